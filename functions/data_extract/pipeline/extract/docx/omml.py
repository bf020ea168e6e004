"""OMML equations linearised as readable text: ``(a)/(b)``, ``x^(2)``, ``√(x)``, n-ary operators, delimiters."""

from __future__ import annotations

from lxml import etree

from data_extract.pipeline.extract.ooxml import local_name


def _math_group(text: str) -> str:
    return text if len(text) <= 1 else f"({text})"


def _math_child(el: etree._Element, name: str) -> etree._Element | None:
    for child in el:
        if local_name(child.tag) == name:
            return child
    return None


def _math_attr(el: etree._Element | None, prop: str) -> str | None:
    """Value of ``<m:xxxPr><m:prop m:val=...>``."""
    if el is None:
        return None
    for child in el:
        if local_name(child.tag) == prop:
            for key, value in child.attrib.items():
                if local_name(key) == "val":
                    found: str = value
                    return found
    return None


def math_text(el: etree._Element) -> str:
    """Linearise an OMML tree into readable text: fractions, scripts, radicals, n-ary operators, delimiters."""
    name = local_name(el.tag)
    if name == "t":
        text: str = el.text or ""
        return text
    if name.endswith("Pr") or name in ("", "ctrlPr"):
        return ""

    def part(child_name: str) -> str:
        child = _math_child(el, child_name)
        return math_text(child) if child is not None else ""

    if name == "f":
        return f"{_math_group(part('num'))}/{_math_group(part('den'))}"
    if name == "sSup":
        return f"{part('e')}^{_math_group(part('sup'))}"
    if name == "sSub":
        return f"{part('e')}_{_math_group(part('sub'))}"
    if name == "sSubSup":
        return f"{part('e')}_{_math_group(part('sub'))}^{_math_group(part('sup'))}"
    if name == "sPre":
        return f"_{_math_group(part('sub'))}^{_math_group(part('sup'))}{part('e')}"
    if name == "rad":
        degree = part("deg")
        return f"√{_math_group(part('e'))}" if not degree else f"root({degree}){_math_group(part('e'))}"
    if name == "nary":
        operator = _math_attr(_math_child(el, "naryPr"), "chr") or "∫"
        sub, sup = part("sub"), part("sup")
        limits = (f"_{_math_group(sub)}" if sub else "") + (f"^{_math_group(sup)}" if sup else "")
        return f"{operator}{limits} {part('e')}"
    if name == "d":
        return _delimited(el)
    if name == "oMathPara":
        return "\n".join(math_text(c) for c in el if local_name(c.tag) == "oMath")
    return "".join(math_text(child) for child in el if isinstance(child.tag, str))


def _delimited(el: etree._Element) -> str:
    """``m:d``: its elements between the delimiters it declares, "(" and ")" by default."""
    props = _math_child(el, "dPr")
    begin = _math_attr(props, "begChr")
    end = _math_attr(props, "endChr")
    separator = _math_attr(props, "sepChr") or "|"
    inner = separator.join(math_text(c) for c in el if local_name(c.tag) == "e")
    return f"{'(' if begin is None else begin}{inner}{')' if end is None else end}"

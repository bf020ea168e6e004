"""List numbers as Word displays them ("1.", "2.3", "a)", "IV.", "•"), from the numbering part."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from data_extract.pipeline.extract.docx.names import Names
from data_extract.pipeline.extract.docx.values import parse_int
from data_extract.pipeline.extract.ooxml import Package
from data_extract.pipeline.types import ExtractionError

_LEVEL_PLACEHOLDER = re.compile(r"%([1-9])")
_ROMAN = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
          (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))  # fmt: skip


@dataclass
class Level:
    start: int
    number_format: str
    text: str
    legal: bool  # isLgl: every level's number shown in decimal


class Numbering:
    """List numbers as Word displays them ("1.", "2.3", "a)", "•"), counted per abstract numbering definition."""

    def __init__(self, root: etree._Element, n: Names) -> None:
        self.levels: dict[str, dict[int, Level]] = {
            abstract.get(f"{{{n.w}}}abstractNumId") or "": _abstract_levels(abstract, n)
            for abstract in root.iter(f"{{{n.w}}}abstractNum")
        }
        self.abstract_of: dict[str, str] = {}
        self.start_overrides: dict[str, dict[int, int]] = {}
        for num in root.iter(f"{{{n.w}}}num"):
            self._read_instance(num, n)
        # Keyed by abstract id, None when the instance names no abstract definition (yet levels exist under "").
        self.counters: dict[str | None, dict[int, int]] = {}
        self.overrides_applied: set[tuple[str | None, int]] = set()

    def _read_instance(self, num: etree._Element, n: Names) -> None:
        """One ``w:num``: the abstract definition it applies and the level starts it overrides."""
        w = n.w
        num_id = num.get(f"{{{w}}}numId") or ""
        abstract_el = num.find(f"{{{w}}}abstractNumId")
        if abstract_el is not None:
            self.abstract_of[num_id] = abstract_el.get(n.val) or ""
        for override in num.iter(f"{{{w}}}lvlOverride"):
            start = override.find(f"{{{w}}}startOverride")
            ilvl = parse_int(override.get(f"{{{w}}}ilvl"))
            if start is not None and ilvl is not None:
                self.start_overrides.setdefault(num_id, {})[ilvl] = parse_int(start.get(n.val)) or 0

    def marker(self, num_id: str | None, ilvl: int) -> str:
        abstract = self.abstract_of.get(num_id or "")
        levels = self.levels.get(abstract or "")
        if not levels or ilvl not in levels:
            return ""
        counters = self._count(num_id, abstract, ilvl, levels)
        level = levels[ilvl]
        if level.number_format == "bullet":
            return "•"
        if level.number_format == "none":
            return ""

        def number(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            referenced = levels.get(index)
            value = counters.get(index, referenced.start if referenced else 1)
            fmt = "decimal" if level.legal or referenced is None else referenced.number_format
            return format_number(value, fmt)

        return _LEVEL_PLACEHOLDER.sub(number, level.text).strip()

    def _count(self, num_id: str | None, abstract: str | None, ilvl: int, levels: dict[int, Level]) -> dict[int, int]:
        """Advance the counter of ``ilvl`` for one more item; the abstract definition's counters after it."""
        counters = self.counters.setdefault(abstract, {})
        override = self.start_overrides.get(num_id or "", {}).get(ilvl)
        if override is not None and (num_id, ilvl) not in self.overrides_applied:
            self.overrides_applied.add((num_id, ilvl))
            counters[ilvl] = override
        elif ilvl in counters:
            counters[ilvl] += 1
        else:
            counters[ilvl] = levels[ilvl].start
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]  # a higher-level item restarts the numbering below it
        return counters


def _abstract_levels(abstract: etree._Element, n: Names) -> dict[int, Level]:
    w = n.w
    levels: dict[int, Level] = {}
    for lvl in abstract.iter(f"{{{w}}}lvl"):
        ilvl = parse_int(lvl.get(f"{{{w}}}ilvl"))
        if ilvl is None:
            continue
        start = lvl.find(f"{{{w}}}start")
        start_value = parse_int(start.get(n.val)) if start is not None else None
        fmt = lvl.find(f"{{{w}}}numFmt")
        text = lvl.find(f"{{{w}}}lvlText")
        levels[ilvl] = Level(
            start=1 if start_value is None else start_value,
            number_format=(fmt.get(n.val) if fmt is not None else None) or "decimal",
            text=(text.get(n.val) if text is not None else None) or "",
            legal=lvl.find(f"{{{w}}}isLgl") is not None,
        )
    return levels


def format_number(value: int, number_format: str) -> str:
    if number_format in ("lowerLetter", "upperLetter") and value > 0:
        letter = chr(ord("a") + (value - 1) % 26) * ((value - 1) // 26 + 1)  # Word: a..z, aa..zz, ...
        return letter.upper() if number_format == "upperLetter" else letter
    if number_format in ("lowerRoman", "upperRoman") and 0 < value < 4000:
        roman, rest = "", value
        for amount, symbol in _ROMAN:
            while rest >= amount:
                roman, rest = roman + symbol, rest - amount
        return roman.upper() if number_format == "upperRoman" else roman
    if number_format == "decimalZero" and 0 <= value < 10:
        return f"0{value}"
    return str(value)


def load_numbering(package: Package, main_part: str, n: Names, warnings: list[str]) -> Numbering | None:
    """The numbering of the main part's numbering part, None when there is none or it cannot be read."""
    part = next((r.target for r in package.related(main_part, "numbering") if package.has(r.target)), None)
    if part is None:
        return None
    try:
        return Numbering(package.xml(part, recover=True), n)
    except ExtractionError:
        warnings.append("The numbering part is unreadable; list numbers are not shown.")
        return None

"""EPUB (2 and 3) -> the spine's XHTML documents in reading order, through the HTML extractor.

The package document is found through ``META-INF/container.xml``; its spine gives the reading order (items marked
``linear="no"`` come last). Chapter titles come from the table of contents (EPUB 3 ``nav`` document or EPUB 2 NCX):
when a chapter's markup does not already carry its title as a heading, the title is added as a level-1 heading
so every chapter is findable in the section breadcrumb. Each block's ``meta`` names its chapter file.

DRM-protected books (``META-INF/rights.xml``, or ``encryption.xml`` entries other than font obfuscation) are
``ENCRYPTED``. XHTML is parsed as XML (secure parser) and, when it is not well-formed, as HTML.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote

from lxml import etree

from data_extract.pipeline.extract.html import HtmlBlocks, parse_html
from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.extract.ooxml import Package, local_name, open_package, parse_xml
from data_extract.pipeline.types import Document, ErrorType, ExtractionError, ExtractOptions

_FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_XHTML_TYPES = {"application/xhtml+xml", "text/html", "application/xml", "text/xml"}


def _resolve(base_part: str, href: str) -> str:
    href = unquote(href.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_part), href)).lstrip("/")


def _check_drm(package: Package) -> None:
    if package.has("META-INF/rights.xml"):
        raise ExtractionError(ErrorType.ENCRYPTED, "The EPUB is DRM-protected (rights.xml present).")
    encryption = package.xml_optional("META-INF/encryption.xml", recover=True)
    if encryption is None:
        return
    for el in encryption.iter():
        if local_name(el.tag) == "EncryptionMethod" and el.get("Algorithm") not in _FONT_OBFUSCATION:
            raise ExtractionError(ErrorType.ENCRYPTED, "The EPUB content is encrypted (DRM).")


def _package_document(package: Package) -> str:
    container = package.xml("META-INF/container.xml", recover=True)
    for el in container.iter():
        if local_name(el.tag) == "rootfile" and el.get("full-path"):
            path: str = el.get("full-path").lstrip("/")
            if package.has(path):
                return path
    raise ExtractionError(ErrorType.CORRUPT, "The EPUB container names no readable package document (.opf).")


def _toc_titles(
    package: Package, opf_part: str, manifest: dict[str, tuple[str, str, str]], toc_id: str | None
) -> dict[str, str]:
    """Chapter file -> first title in the table of contents (EPUB 3 nav, else EPUB 2 NCX)."""
    titles: dict[str, str] = {}
    nav = next((href for href, _, props in manifest.values() if "nav" in props.split()), None)
    ncx = manifest.get(toc_id or "", (None, "", ""))[0] or next(
        (href for href, media, _ in manifest.values() if media == "application/x-dtbncx+xml"), None
    )
    try:
        if nav and package.has(nav):
            root = _parse_xhtml(package.read(nav), nav)
            for el in root.iter():
                if local_name(el.tag) == "a" and el.get("href"):
                    title = " ".join("".join(el.itertext()).split())
                    if title:
                        titles.setdefault(_resolve(nav, el.get("href")), title)
        elif ncx and package.has(ncx):
            root = package.xml(ncx, recover=True)
            for point in root.iter():
                if local_name(point.tag) != "navPoint":
                    continue
                label = next((t for t in point.iter() if local_name(t.tag) == "text"), None)
                content = next((c for c in point if local_name(c.tag) == "content"), None)
                if label is not None and content is not None and content.get("src"):
                    title = " ".join((label.text or "").split())
                    if title:
                        titles.setdefault(_resolve(ncx, content.get("src")), title)
    except ExtractionError:
        return {}
    return titles


def _parse_xhtml(data: bytes, part: str) -> etree._Element:
    try:
        return parse_xml(data, part=part)
    except ExtractionError:
        return parse_html(data)


def extract_epub(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    with open_package(data, options, "EPUB") as package:
        _check_drm(package)
        opf_part = _package_document(package)
        opf = package.xml(opf_part, recover=True)
        manifest: dict[str, tuple[str, str, str]] = {}
        spine_refs: list[tuple[str, bool]] = []
        toc_id = None
        metadata: dict[str, object] = {}
        for el in opf.iter():
            name = local_name(el.tag)
            if name == "item" and el.get("id") and el.get("href"):
                manifest[el.get("id")] = (
                    _resolve(opf_part, el.get("href")),
                    (el.get("media-type") or "").lower(),
                    el.get("properties") or "",
                )
            elif name == "spine":
                toc_id = el.get("toc")
            elif name == "itemref" and el.get("idref"):
                spine_refs.append((el.get("idref"), el.get("linear") != "no"))
            elif name in ("title", "creator", "language") and el.text and el.text.strip():
                metadata.setdefault(name, " ".join(el.text.split()))
        ordered = [ref for ref, linear in spine_refs if linear] + [ref for ref, linear in spine_refs if not linear]
        chapters = [
            manifest[ref][0]
            for ref in ordered
            if ref in manifest and manifest[ref][1] in _XHTML_TYPES and package.has(manifest[ref][0])
        ]
        if not chapters and spine_refs:
            raise ExtractionError(ErrorType.CORRUPT, "No document of the EPUB spine could be found in the package.")
        titles = _toc_titles(package, opf_part, manifest, toc_id)

        walker = HtmlBlocks(TextLimit(options))
        warnings: list[str] = []
        for number, chapter in enumerate(chapters, start=1):
            start = len(walker.blocks)
            try:
                root = _parse_xhtml(package.read(chapter), chapter)
                title = titles.get(chapter)
                if title and not _has_heading(root, title):
                    walker.add_heading(title, 1)
                walker.walk(root)
            except ExtractionError as exc:
                if exc.error_type != ErrorType.CORRUPT:
                    raise
                warnings.append(f"Chapter '{chapter}' is unreadable and was skipped.")
                continue
            except RecursionError:
                warnings.append(f"Chapter '{chapter}' is nested too deeply and was skipped.")
                continue
            for block in walker.blocks[start:]:
                block.meta["chapter"] = number
                block.meta["chapter_file"] = chapter
        metadata["chapter_count"] = len(chapters)
        return Document(format="epub", blocks=walker.blocks, metadata=metadata, warnings=warnings)


def _has_heading(root: etree._Element, title: str) -> bool:
    wanted = " ".join(title.split()).lower()
    for el in root.iter():
        if local_name(el.tag).lower() in ("h1", "h2", "h3", "h4", "h5", "h6"):
            text = " ".join("".join(el.itertext()).split()).lower()
            if text and (wanted in text or text in wanted):
                return True
    return False

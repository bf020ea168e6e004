"""WordprocessingML namespaces (Transitional and Strict), the element kinds the walk dispatches on, and the
qualified names of the namespace a document actually uses."""

from __future__ import annotations

from lxml import etree

from data_extract.pipeline.types import ErrorType, ExtractionError

W_NAMESPACES = (
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",
)
R_NAMESPACES = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
M_NAMESPACES = (
    "http://schemas.openxmlformats.org/officeDocument/2006/math",
    "http://purl.oclc.org/ooxml/officeDocument/math",
)
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"

# Inline (run-level) element kinds, by local name in the WordprocessingML namespaces.
_INLINE_W = {
    "t": "text",
    "tab": "tab",
    "ptab": "tab",
    "br": "break",
    "cr": "newline",
    "noBreakHyphen": "hyphen",
    "softHyphen": "skip",
    "sym": "symbol",
    "lastRenderedPageBreak": "rendered_page",
    "footnoteReference": "footnote_ref",
    "endnoteReference": "endnote_ref",
    "commentReference": "comment_ref",
    "txbxContent": "textbox",
    # Not displayed text: properties, deleted/moved-away runs, field codes, content-control properties, ruby text.
    "rPr": "skip",
    "pPr": "skip",
    "delText": "skip",
    "instrText": "skip",
    "delInstrText": "skip",
    "del": "skip",
    "moveFrom": "skip",
    "sdtPr": "skip",
    "sdtEndPr": "skip",
    "rt": "skip",
    "fldChar": "skip",
    "proofErr": "skip",
    "bookmarkStart": "skip",
    "bookmarkEnd": "skip",
    "commentRangeStart": "skip",
    "commentRangeEnd": "skip",
    "footnoteRef": "skip",
    "endnoteRef": "skip",
    "annotationRef": "skip",
    "separator": "skip",
    "continuationSeparator": "skip",
}
_INLINE_M = {"oMath": "math", "oMathPara": "math"}
_BLOCK_W = {
    "p": "paragraph",
    "tbl": "table",
    "sdt": "sdt",
    "customXml": "container",
    "ins": "container",
    "moveTo": "container",
    "altChunk": "alt_chunk",
    "sdtContent": "container",
}


def _tag_table(namespaces: tuple[str, ...], names: dict[str, str]) -> dict[str, str]:
    return {f"{{{ns}}}{name}": kind for ns in namespaces for name, kind in names.items()}


INLINE_KINDS = {
    **_tag_table(W_NAMESPACES, _INLINE_W),
    **_tag_table(M_NAMESPACES, _INLINE_M),
    f"{{{MC_NS}}}AlternateContent": "alternate",
}
BLOCK_KINDS = {**_tag_table(W_NAMESPACES, _BLOCK_W), f"{{{MC_NS}}}AlternateContent": "alternate"}
# Paragraphs holding any of these take the careful recursive walk: they nest blocks (text boxes), offer
# alternatives, hide text (deletions, ruby, control properties) or need more than text (notes, pages, symbols).
_SPECIAL_W = (
    "txbxContent", "del", "moveFrom", "rt", "sdtPr", "cr", "ptab", "noBreakHyphen", "sym", "lastRenderedPageBreak",
    "footnoteReference", "endnoteReference", "commentReference",
)  # fmt: skip
# All other paragraphs only show text, tabs and breaks: lxml filters these three tags in C, which is far faster
# than visiting every run and property element from Python (and the fewer tags, the faster the filter).
_FAST_W = ("t", "tab", "br")


class Names:
    """Fully qualified tag and attribute names for the namespace the document actually uses."""

    def __init__(self, w: str, r: str, m: str) -> None:
        self.w = w
        # Elements.
        self.body, self.p, self.pPr, self.pStyle = _qualified(w, "body", "p", "pPr", "pStyle")
        self.outlineLvl, self.numPr, self.ilvl, self.numId = _qualified(w, "outlineLvl", "numPr", "ilvl", "numId")
        self.sectPr, self.type, self.pageBreakBefore = _qualified(w, "sectPr", "type", "pageBreakBefore")
        self.tbl, self.tr, self.tc, self.tcPr, self.trPr = _qualified(w, "tbl", "tr", "tc", "tcPr", "trPr")
        self.gridSpan, self.gridBefore, self.gridAfter = _qualified(w, "gridSpan", "gridBefore", "gridAfter")
        self.vMerge, self.tblHeader, self.sdtContent = _qualified(w, "vMerge", "tblHeader", "sdtContent")
        self.headerReference, self.footerReference = _qualified(w, "headerReference", "footerReference")
        self.style, self.name, self.basedOn, self.rPr = _qualified(w, "style", "name", "basedOn", "rPr")
        self.footnote, self.endnote, self.comment, self.tabs = _qualified(w, "footnote", "endnote", "comment", "tabs")
        # Attributes.
        self.val, self.id, self.author, self.type_attr = _qualified(w, "val", "id", "author", "type")
        self.style_id, self.char, self.default = _qualified(w, "styleId", "char", "default")
        self.r_id = f"{{{r}}}id"
        # The elements that send a paragraph down the careful walk, and the few the fast walk filters for.
        self.special_tags = (
            *(f"{{{w}}}{name}" for name in _SPECIAL_W),
            f"{{{m}}}oMath",
            f"{{{m}}}oMathPara",
            f"{{{MC_NS}}}AlternateContent",
        )
        self.fast_tags = tuple(f"{{{w}}}{name}" for name in _FAST_W)


def _qualified(namespace: str, *local_names: str) -> tuple[str, ...]:
    return tuple(f"{{{namespace}}}{name}" for name in local_names)


def names_for(root: etree._Element) -> tuple[Names, bool]:
    """The names of the main part's namespace, and whether it is Strict OOXML; CORRUPT when it is not Word's."""
    w_ns = etree.QName(root).namespace or W_NAMESPACES[0]
    if w_ns not in W_NAMESPACES:
        raise ExtractionError(ErrorType.CORRUPT, "The DOCX main part is not a WordprocessingML document.")
    strict = w_ns == W_NAMESPACES[1]
    r_ns = R_NAMESPACES[1] if strict else R_NAMESPACES[0]
    m_ns = M_NAMESPACES[1] if strict else M_NAMESPACES[0]
    return Names(w_ns, r_ns, m_ns), strict

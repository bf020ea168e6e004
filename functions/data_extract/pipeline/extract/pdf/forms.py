"""Fillable forms: pdfium's form environment, and the values a reader typed into a page's widgets."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from data_extract.pipeline.types import Block, Table

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfDocument, PdfPage


def init_forms(pdf: PdfDocument) -> bool:
    """Set up pdfium's form environment when the PDF has fillable fields (before any page loads)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    if pdf.get_formtype() == raw.FORMTYPE_NONE:
        return False
    try:
        pdf.init_forms()
    except pdfium.PdfiumError:
        return False
    return pdf.formenv is not None


# Field types whose value is content a reader filled in.
_VALUE_FIELD_TYPES = frozenset({2, 3, 4, 5, 6})  # checkbox, radio button, combo box, list box, text field
_UNSET_FIELD_VALUES = frozenset({"", "Off"})


def form_fields(pdf: PdfDocument, page: PdfPage, number: int) -> Block | None:
    """The filled-in fields of a page's form widgets as a two-column table (name, value).

    Values typed into a form live in the form's field dictionary, not in the page
    text, so the text layer alone would lose them.
    """
    import pypdfium2.raw as raw

    if pdf.formenv is None:  # forms were not set up (see init_forms)
        return None
    form = pdf.formenv.raw
    rows: list[list[str]] = []
    seen: set[tuple[str, str]] = set()
    for index in range(raw.FPDFPage_GetAnnotCount(page.raw)):
        annotation = raw.FPDFPage_GetAnnot(page.raw, index)
        if not annotation:
            continue
        try:
            if raw.FPDFAnnot_GetSubtype(annotation) != raw.FPDF_ANNOT_WIDGET:
                continue
            if raw.FPDFAnnot_GetFormFieldType(form, annotation) not in _VALUE_FIELD_TYPES:
                continue
            value = _annotation_string(raw.FPDFAnnot_GetFormFieldValue, form, annotation).strip()
            if value in _UNSET_FIELD_VALUES:
                continue
            name = _annotation_string(raw.FPDFAnnot_GetFormFieldName, form, annotation).strip()
            if (name, value) not in seen:
                seen.add((name, value))
                rows.append([name, value])
        finally:
            raw.FPDFPage_CloseAnnot(annotation)
    if not rows:
        return None
    table = Table(rows=rows)
    return Block(kind="table", text=table.to_text(), page=number, table=table, meta={"detected": "form_fields"})


def _annotation_string(getter: Any, form: Any, annotation: Any) -> str:
    size = getter(form, annotation, None, 0)  # bytes, UTF-16 with terminator
    if size <= 2:
        return ""
    buffer = ctypes.create_string_buffer(size)
    getter(form, annotation, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)), size)
    return buffer.raw[: size - 2].decode("utf-16-le", "ignore")

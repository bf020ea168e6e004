"""Extractor registry: format name -> extractor, imported on first use.

Every extractor has the signature
``extract(data: bytes, *, filename: str, options: ExtractOptions) -> Document``
and raises ``ExtractionError`` with a precise ``ErrorType`` when it cannot.
Modules are imported lazily so a worker only loads the parsers it needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from data_extract.pipeline.types import Document, ErrorType, ExtractionError, ExtractOptions

Extractor = Callable[..., Document]

_PKG = "data_extract.pipeline.extract"

# format -> "module:function" (module relative to this package)
REGISTRY: dict[str, str] = {
    "txt": "text:extract_text",
    "md": "text:extract_text",
    "log": "text:extract_text",
    "csv": "delimited:extract_delimited",
    "tsv": "delimited:extract_delimited",
    "pdf": "pdf:extract_pdf",
    "docx": "docx:extract_docx",
    "xlsx": "spreadsheet:extract_spreadsheet",
    "xls": "spreadsheet:extract_spreadsheet",
    "ods": "spreadsheet:extract_spreadsheet",
    "pptx": "pptx:extract_pptx",
    "html": "html:extract_html",
    "eml": "email:extract_eml",
    "msg": "email:extract_msg",
    "json": "structured:extract_json",
    "ndjson": "structured:extract_json",
    "rtf": "rtf:extract_rtf",
    "odt": "opendocument:extract_opendocument",
    "odp": "opendocument:extract_opendocument",
    "epub": "epub:extract_epub",
    "doc": "legacy:extract_legacy_office",
    "ppt": "legacy:extract_legacy_office",
    "png": "image:extract_image",
    "jpeg": "image:extract_image",
    "tiff": "image:extract_image",
    "bmp": "image:extract_image",
    "gif": "image:extract_image",
    "webp": "image:extract_image",
}


def supported_formats() -> list[str]:
    return sorted(REGISTRY)


def get_extractor(fmt: str) -> Extractor:
    target = REGISTRY.get(fmt)
    if target is None:
        raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, f"No extractor for format '{fmt}'.")
    module_name, func_name = target.split(":")
    module = importlib.import_module(f"{_PKG}.{module_name}")
    return getattr(module, func_name)


def extract_document(data: bytes, *, filename: str, options: ExtractOptions | None = None) -> Document:
    """Detect the format from content and name, then run its extractor."""
    from data_extract.pipeline.detect import detect_format

    options = options or ExtractOptions()
    fmt = detect_format(data, filename)
    return get_extractor(fmt)(data, filename=filename, options=options)

"""The formats the pipeline reads and the extractor of each: a leaf module, so detection and the registry import
one way (detect -> formats, extract -> formats) and the API can list formats without loading any extractor."""

from __future__ import annotations

# format -> "module:function", the module relative to data_extract.pipeline.extract
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

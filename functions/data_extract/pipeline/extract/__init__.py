"""Extractor registry: format name -> extractor, imported on first use.

Every extractor has the signature
``extract(data: bytes, *, filename: str, options: ExtractOptions) -> Document``
and raises ``ExtractionError`` with a precise ``ErrorType`` when it cannot.
Modules are imported lazily so a worker only loads the parsers it needs.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from data_extract.pipeline.formats import REGISTRY, supported_formats
from data_extract.pipeline.types import Document, ErrorType, ExtractionError, ExtractOptions

__all__ = ["REGISTRY", "Extractor", "extract_document", "get_extractor", "supported_formats"]


class Extractor(Protocol):
    """The signature every extractor has."""

    def __call__(self, data: bytes, *, filename: str, options: ExtractOptions) -> Document: ...


_PKG = "data_extract.pipeline.extract"


def get_extractor(fmt: str) -> Extractor:
    target = REGISTRY.get(fmt)
    if target is None:
        raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, f"No extractor for format '{fmt}'.")
    module_name, func_name = target.split(":")
    module = importlib.import_module(f"{_PKG}.{module_name}")
    # The registry names a module attribute; mypy cannot see through the dynamic import.
    extractor: Extractor = getattr(module, func_name)
    return extractor


def extract_document(data: bytes, *, filename: str, options: ExtractOptions | None = None) -> Document:
    """Detect the format from content and name, then run its extractor."""
    from data_extract.pipeline.detect import detect_format

    options = options or ExtractOptions()
    fmt = detect_format(data, filename)
    return get_extractor(fmt)(data, filename=filename, options=options)

"""The worker reports which formats it can read (and whether OCR is installed) for the API's health view."""

from __future__ import annotations

import logging
from typing import Any

from data_extract.contract import now_rfc3339
from data_extract.store import Store

logger = logging.getLogger(__name__)


class _ReportState:
    """Whether this process has recorded its readiness (module state changed without ``global``)."""

    done = False


_report = _ReportState()


def worker_readiness() -> dict[str, Any]:
    import importlib

    from data_extract.pipeline.formats import REGISTRY

    formats = []
    for fmt, target in sorted(REGISTRY.items()):
        try:
            importlib.import_module(f"data_extract.pipeline.extract.{target.split(':')[0]}")
            formats.append(fmt)
        except ImportError:
            logger.warning("extractor unavailable", extra={"format": fmt})
    try:
        from data_extract.pipeline.ocr import tesseract_available

        ocr = tesseract_available()
    except ImportError:
        ocr = False
    return {"formats": formats, "ocr_available": ocr, "checked_at": now_rfc3339()}


def report_worker_readiness(store: Store) -> None:
    """Once per container: cheap, and the record tells operators what this worker build can do."""
    if _report.done:
        return
    try:
        store.table.put_worker_readiness(worker_readiness())
        _report.done = True
    except Exception:
        logger.exception("could not report worker readiness")


def forget_readiness_report() -> None:
    """Report again on the next batch (a new environment behind the same process, as in tests)."""
    _report.done = False

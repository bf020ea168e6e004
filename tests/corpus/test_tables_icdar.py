"""PDF tables on the ICDAR 2013 Table Competition documents, scored by the shared scorer.

The documents and the scorer live beside the repository (``../shared/tables``, or
``DATA_EXTRACT_TABLES_DIR``); the test is skipped when they are absent. The floors are
what the table finder reaches today (see the tables section of docs/benchmarks.md),
so a change that loses tables or breaks their cells fails here.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from data_extract.pipeline.extract.pdf import extract_pdf
from data_extract.pipeline.normalize import normalize_document
from data_extract.pipeline.tables import assign_table_ids, tables_payload
from data_extract.pipeline.types import ExtractOptions

REPO = Path(__file__).resolve().parents[2]
TABLES_DIR = Path(os.environ.get("DATA_EXTRACT_TABLES_DIR", REPO.parent / "shared" / "tables"))

# Reached on these documents: structure F1 90.3, mean per-document F1 91.4, detection recall 96.4,
# detection precision 86.0. The floors leave a point for platform differences in glyph boxes.
MIN_STRUCTURE_F1 = 0.89
MIN_MEAN_DOC_F1 = 0.90
MIN_DETECTION_RECALL = 0.95
MIN_DETECTION_PRECISION = 0.85


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> dict:
    data = TABLES_DIR / "icdar2013"
    scorer_path = TABLES_DIR / "score.py"
    if not data.is_dir() or not scorer_path.is_file():
        pytest.skip(f"ICDAR 2013 table documents not found at {TABLES_DIR} (set DATA_EXTRACT_TABLES_DIR)")
    spec = importlib.util.spec_from_file_location("table_scorer", scorer_path)
    scorer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scorer)
    out = tmp_path_factory.mktemp("icdar-tables")
    for pdf in sorted(data.glob("*.pdf")):
        document = extract_pdf(pdf.read_bytes(), filename=pdf.name, options=ExtractOptions(ocr=False))
        document = normalize_document(document)
        assign_table_ids(document)
        (out / f"{pdf.stem}.json").write_text(json.dumps({"tables": tables_payload(document)}), encoding="utf-8")
    return scorer.score_split(data, out)["summary"]


def test_icdar_structure_f1_stays_above_the_floor(scored):
    assert scored["f1"] >= MIN_STRUCTURE_F1, scored
    assert scored["mean_doc_f1"] >= MIN_MEAN_DOC_F1, scored


def test_icdar_tables_are_found_without_false_ones(scored):
    assert scored["det_recall"] >= MIN_DETECTION_RECALL, scored
    assert scored["det_precision"] >= MIN_DETECTION_PRECISION, scored

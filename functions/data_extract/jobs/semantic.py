"""The corpus semantic stage of a run: handed over by finalize, run by the semantic function, read back by finalize.

Why a queue and a function of its own rather than a step inside finalize: the stage needs numpy, scipy and
scikit-learn (~120 MB unzipped), which do not fit in the worker layer finalize shares with the extraction
libraries (both together pass Lambda's 250 MB), and it needs far more memory and time than the rest of finalize
(minutes and gigabytes at 100,000 chunks). So:

1. finalize (``finalize_run``) sees a run that asked for ``include_semantic`` and has no semantic outcome yet: it
   sends ``{job_id, run}`` to the semantic queue and stops there (the job stays ``running``);
2. the semantic function (``run_semantic_stage``) reads the chunk records the workers kept for every processed
   file (``records/jobs/<job>/chunks/``: any output format), runs the pure stage
   (pipeline/semantic/analyze.py), writes the artifacts under ``jobs/<job>/semantic/``, writes every processed
   file's outputs again with each chunk's quality, stores the outcome (``records/jobs/<job>/semantic-NNN.json``)
   and then finishes the run itself (``finalize_run`` in the same invocation, which now finds the outcome);
3. a stage that raises gives a ``failed`` outcome and the run still finishes with its extraction results; a
   semantic message that keeps failing (timeouts, out of memory) reaches the semantic dead-letter queue, whose
   handler stores a ``failed`` outcome and hands the run back to finalize, so no job stays ``running``.

Every step is idempotent: a redelivered message finds the stored outcome (or recomputes the same numbers: the
stage is deterministic) and ``finalize_run`` runs once per run. Nothing here imports the numerical stack at module
level: finalize and the dead-letter function import this module from the worker layer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from data_extract.jobs import paths, records
from data_extract.jobs.records import UnitRecord
from data_extract.store import ObjectNotFound, Store

if TYPE_CHECKING:
    from data_extract.pipeline.semantic.types import SemanticArtifact, SemanticChunk

logger = logging.getLogger(__name__)

STAGE_KEYS = ("semantic_quality", "semantic_tfidf", "semantic_similarity", "semantic_lsa")


@dataclass(frozen=True)
class SemanticMessage:
    job_id: str
    run: int

    @classmethod
    def parse(cls, body: str) -> SemanticMessage:
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("stage") != "semantic":
            raise ValueError("not a semantic stage message")
        return cls(str(data["job_id"]), int(data["run"]))

    def body(self) -> dict[str, Any]:
        return {"stage": "semantic", "job_id": self.job_id, "run": self.run}


def outcome(
    status: str,
    message: str,
    *,
    reason_code: str | None = None,
    summary: dict[str, Any] | None = None,
    artifacts: list[dict[str, Any]] | None = None,
    stage_timings_ms: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A ``SemanticOutcome``: the shape clients read under ``result_payload.semantic``."""
    return {
        "status": status,
        "reason_code": reason_code,
        "message": message,
        "summary": summary,
        "artifacts": artifacts or [],
        "stage_timings_ms": stage_timings_ms or {},
    }


def stored_outcome(store: Store, job_id: str, run: int) -> dict[str, Any] | None:
    try:
        # Written by run_semantic_stage or fail_from_dead_letter: an ``outcome(...)``.
        return cast("dict[str, Any]", store.objects.get_json(paths.semantic_record_key(job_id, run)))
    except ObjectNotFound:
        return None


def hand_over(store: Store, job_id: str, run: int) -> None:
    """Queue the run's semantic stage (finalize calls this; a duplicate send is harmless)."""
    store.queues.send_semantic(SemanticMessage(job_id, run).body())
    store.table.add_event(job_id, "semantic", "Corpus semantic stage queued", {"run": run})


def run_semantic_stage(store: Store, msg: SemanticMessage) -> str:
    """Analyse the run's chunks (once), then finish the run. Returns finalize's outcome ('finalized', ...)."""
    from data_extract.jobs.finalize import FinalizeMessage, _open_run, finalize_run

    finalize_msg = FinalizeMessage(msg.job_id, msg.run)
    loaded = _open_run(store, finalize_msg)
    if isinstance(loaded, str):
        return loaded
    _, job = loaded
    if stored_outcome(store, msg.job_id, msg.run) is None:
        result = analyse_job(store, job)
        store.objects.put_json(paths.semantic_record_key(msg.job_id, msg.run), result)
        store.table.add_event(
            msg.job_id,
            "semantic",
            f"Corpus semantic stage {result['status']}",
            {"run": msg.run, "status": result["status"], "reason_code": result["reason_code"]},
        )
    return finalize_run(store, finalize_msg)


def fail_from_dead_letter(store: Store, msg: SemanticMessage, receive_count: int | None) -> str:
    """A semantic message that kept failing: record a failed outcome and let finalize finish the run."""
    from data_extract.jobs.finalize import FinalizeMessage, _open_run

    loaded = _open_run(store, FinalizeMessage(msg.job_id, msg.run))
    if isinstance(loaded, str):
        return loaded
    if stored_outcome(store, msg.job_id, msg.run) is None:
        attempts = f" after {receive_count} attempts" if receive_count else ""
        store.objects.put_json(
            paths.semantic_record_key(msg.job_id, msg.run),
            outcome(
                "failed",
                f"The semantic stage did not finish{attempts} (it timed out or ran out of memory); "
                "the extraction results are complete.",
                reason_code="semantic_stage_exhausted",
            ),
        )
        store.table.add_event(
            msg.job_id,
            "semantic",
            "Corpus semantic stage failed",
            {"run": msg.run, "status": "failed", "reason_code": "semantic_stage_exhausted"},
        )
    store.queues.send_finalize({"job_id": msg.job_id, "run": msg.run})
    return "handed_to_finalize"


def analyse_job(store: Store, job: Mapping[str, Any]) -> dict[str, Any]:
    """Run the stage over every chunk of the job's processed files (``job``: its ``JobRecord``); never raises (a
    failure is an outcome)."""
    started = time.perf_counter()
    try:
        return _analyse(store, job, started)
    except Exception as exc:
        logger.exception("semantic stage failed", extra={"job_id": job["job_id"]})
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        return outcome(
            "failed",
            f"Semantic stage failed: {type(exc).__name__}" + (f": {detail}" if detail else ""),
            reason_code="semantic_stage_error",
            stage_timings_ms={"semantic_total": round((time.perf_counter() - started) * 1000, 3)},
        )


def _processed_units(store: Store, job_id: str) -> list[UnitRecord]:
    units = [u for u in records.units(store, job_id) if u["status"] == "processed"]
    return sorted(units, key=lambda u: u["source_path"])


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


@dataclass
class _Corpus:
    """The run's chunks, each once, and which processed files had a chunk record to give them."""

    chunks: list[SemanticChunk]
    with_records: list[UnitRecord]
    missing: list[str]  # source paths of processed files without a chunk record


def _collect_chunks(store: Store, job_id: str, units: list[UnitRecord]) -> _Corpus:
    from data_extract.pipeline.semantic.types import SemanticChunk
    from data_extract.store.records import get_chunk_record

    corpus = _Corpus([], [], [])
    seen: set[str] = set()
    for unit in units:
        try:
            record = get_chunk_record(store.objects, paths.chunk_record_key(job_id, unit["unit_id"]))
        except ObjectNotFound:
            corpus.missing.append(unit["source_path"])
            continue
        corpus.with_records.append(unit)
        for chunk in record["records"]:
            if chunk["id"] in seen:
                continue
            seen.add(chunk["id"])
            flags = tuple(chunk.get("quality", {}).get("flags", []))
            corpus.chunks.append(
                SemanticChunk(
                    chunk["id"], chunk["text"], record["source_path"], int(chunk.get("position_index", 0)), flags
                )
            )
    return corpus


def _store_artifacts(store: Store, job_id: str, artifacts: list[SemanticArtifact]) -> list[dict[str, Any]]:
    """Write the stage's artifacts under the job's semantic/ prefix; their listing for the outcome."""
    listed = []
    for artifact in artifacts:
        key = paths.semantic_artifact_key(job_id, artifact.name)
        store.objects.put_bytes(key, artifact.data, artifact.content_type)
        listed.append(
            {
                "name": artifact.title,
                "path": key[len(paths.job_prefix(job_id)) :],
                "artifact_type": artifact.artifact_type,
                "format": artifact.format,
                "size_bytes": len(artifact.data),
            }
        )
    return listed


def _analyse(store: Store, job: Mapping[str, Any], started: float) -> dict[str, Any]:
    from data_extract.pipeline.semantic.analyze import analyze
    from data_extract.pipeline.semantic.types import SemanticOptions

    job_id = job["job_id"]
    options = SemanticOptions.from_run_config(job["run_config"])
    corpus = _collect_chunks(store, job_id, _processed_units(store, job_id))
    missing = corpus.missing
    if not corpus.chunks:
        message = "No semantic-ready chunks found."
        if missing:
            message += f" {len(missing)} processed files have no chunk record."
        return outcome(
            "skipped", message, reason_code="no_chunks", stage_timings_ms={"semantic_total": _elapsed_ms(started)}
        )

    analysis = analyze(corpus.chunks, options)
    artifacts = _store_artifacts(store, job_id, analysis.artifacts)
    write_started = time.perf_counter()
    rewritten = _write_quality_back(store, job, corpus.with_records, analysis.chunk_quality)
    timings = dict(analysis.stage_timings_ms)
    timings["semantic_write_back"] = _elapsed_ms(write_started)
    timings["semantic_total"] = _elapsed_ms(started)
    summary = dict(analysis.summary["summary"])
    summary["files_rewritten"] = rewritten
    message = (
        f"Analysed {summary['analysed_chunks']} of {summary['total_chunks']} chunks from "
        f"{len(corpus.with_records)} files."
    )
    if missing:
        message += f" {len(missing)} processed files had no chunk record and were left out."
    return outcome("completed", message, summary=summary, artifacts=artifacts, stage_timings_ms=timings)


def _write_quality_back(
    store: Store, job: Mapping[str, Any], units: list[UnitRecord], quality: dict[str, dict[str, Any]]
) -> int:
    """Write every file's outputs again from its chunk record, with the stage's quality on each chunk.

    Read again file by file (not kept from the first pass) so memory holds one file's records at a time.
    """
    from data_extract.jobs.units import output_options
    from data_extract.pipeline.output import render_records
    from data_extract.pipeline.types import Document
    from data_extract.store.records import get_chunk_record

    job_id = job["job_id"]
    options = output_options(job["run_config"])
    rewritten = 0
    for unit in units:
        record = get_chunk_record(store.objects, paths.chunk_record_key(job_id, unit["unit_id"]))
        chunk_records = [with_quality(chunk, quality.get(chunk["id"])) for chunk in record["records"]]
        files = render_records(
            chunk_records,
            document=Document(record["detected_format"] or "txt", [], warnings=list(record.get("warnings", []))),
            source_path=record["source_path"],
            file_hash=record["file_hash"],
            options=options,
            processing_timestamp=record["processing_timestamp"],
        )
        for out in files:
            store.objects.put_bytes(paths.output_key(job_id, out.name), out.data, out.content_type)
        rewritten += 1
    return rewritten


def with_quality(chunk: dict[str, Any], quality: dict[str, Any] | None) -> dict[str, Any]:
    """A chunk's output record with the semantic stage's quality: ``quality_score`` (and ``quality.overall``,
    which mirrors it) become the stage's composite score, ``quality_flag`` its flag; the worker's extraction score
    stays as ``quality.extraction_overall``; the readability set joins ``readability_scores``."""
    if quality is None:
        return chunk
    updated = dict(chunk)
    previous = dict(chunk.get("quality") or {})
    updated["quality_score"] = quality["quality_score"]
    updated["quality_flag"] = quality["quality_flag"]
    updated["quality"] = {
        **previous,
        "overall": quality["quality_score"],
        "flag": quality["quality_flag"],
        "extraction_overall": previous.get("overall"),
        "anomaly_score": quality["anomaly_score"],
        "below_min_quality": quality["below_min_quality"],
    }
    if quality.get("readability"):
        updated["readability_scores"] = {**(chunk.get("readability_scores") or {}), **quality["readability"]}
    return updated

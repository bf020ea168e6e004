"""Extraction benchmark: data-extract's pipeline against the tools a user would pick instead.

Run from the repository root with the project venv::

    .venv/bin/python tests/benchmarks/extract_bench.py [--write] [--peers kreuzberg,markitdown]
        [--only pdf,docx] [--repeat 3] [--peer-repeat 3] [--ocr] [--memory] [--json PATH]
        [--corpus DIR] [--peer-venvs DIR] [--timeout 120] [--ocr-section | --ocr-section-only]

What it measures, per file of the corpus ``MANIFEST.tsv`` (``--corpus``, env ``DATA_EXTRACT_CORPUS_DIR``, default
``../shared/corpus`` beside the repository):

* ours: ``extract_document`` -> ``normalize_document`` -> ``chunk_document(chunk_size=512, overlap=128)``, with OCR
  off unless ``--ocr`` (timing fairness: OCR time measures Tesseract, not us). The extract time includes reading
  the file, as the peers' calls do. ``--repeat N`` takes the median of N back-to-back
  timed runs (``--peer-repeat N`` does the same for the peers): with N >= 3 that is the steady-state time of a
  file, which steadies the numbers on a busy machine but leaves out first-touch costs.
* each peer, in its own venv (``--peer-venvs``, env ``DATA_EXTRACT_BENCH_VENVS``, default ``/work/bench-venvs``;
  ``tests/benchmarks/install_peers.sh`` creates them): pypdfium2 (the raw PDF text floor, PDFs only), kreuzberg,
  unstructured (``strategy="fast"``), markitdown, docling (non-PDF, non-image only). A peer whose venv is missing is
  skipped and the report says so.

Every tool runs in a worker subprocess (its venv's python) that imports the tool once, then answers one JSON
command per file and times only the extraction call. Before the first file of each extension the worker makes one
untimed warm-up call on the smallest file of that extension, so lazy imports are not billed to a file. The parent
kills a worker whose file exceeds ``--timeout`` seconds, records a timeout and starts a fresh worker for the next
file. kreuzberg gets a fresh ``XDG_CACHE_HOME`` per worker, cleared before every call, because its OCR cache
ignores ``use_cache=False``; its OCR is switched off like ours unless ``--ocr``.

A file is "ok" for a tool when the call returned without an error and gave non-blank text; "empty" when it returned
blank text without complaint (peers do this for image-only PDFs; ours raises ``needs_ocr``/``empty`` instead, which
counts as an error with its error type). EXPECT recall counts the ``EXPECT.tsv`` phrases found in a tool's text
(ours: the chunk texts) after collapsing whitespace, case-insensitively.

The report gives, per MANIFEST kind: files ok, median ms per ok file, PDF pages/s over the text PDFs (MANIFEST page
counts; scanned, image-only, malformed and password-required PDFs excluded), EXPECT recall, each peer's median time
over ours, and our extract vs normalize+chunk split. It checks the targets from the numbers. ``--write`` also writes
it as Markdown to ``docs/benchmarks.md``; ``--json PATH`` dumps every per-file result.

OCR section (``--ocr-section``, or ``--ocr-section-only``): every scanned/image-only PDF and image file of the corpus
is read twice in the same run, in this process: as Tesseract was wired before orientation detection, deskew and the
rest (``baseline_pages``), and by today's ``extract_document`` with OCR on. It reports pages/s with OCR and the
recall of the phrases in ``tests/data/ocr_phrases.tsv`` per page. With ``--write`` it replaces only its own section
of ``docs/benchmarks.md`` (kept after the hand-written analysis, which a full ``--write`` keeps as it is).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO_ROOT / ".." / "shared" / "corpus"
DEFAULT_PEER_VENVS = Path("/work/bench-venvs")
REPORT_PATH = REPO_ROOT / "docs" / "benchmarks.md"
# Everything from this line on in the report is kept across runs (the hand-written analysis of the targets).
ANALYSIS_MARKER = "<!-- analysis: written by hand, kept by --write -->"

CHUNK_SIZE = 512
CHUNK_OVERLAP = 128

OURS = "ours"
PEERS = ("pypdfium2", "kreuzberg", "unstructured", "markitdown", "docling")
PEER_LABELS = {
    OURS: "data-extract",
    "pypdfium2": "pypdfium2 (raw floor)",
    "kreuzberg": "kreuzberg",
    "unstructured": "unstructured (fast)",
    "markitdown": "markitdown",
    "docling": "docling",
}
# The distribution whose version the report shows for each tool.
PEER_DISTRIBUTIONS = {
    "pypdfium2": "pypdfium2",
    "kreuzberg": "kreuzberg",
    "unstructured": "unstructured",
    "markitdown": "markitdown",
    "docling": "docling",
}
IMAGE_KINDS = frozenset({"png", "jpg", "jpeg", "tiff", "bmp", "gif", "webp"})
# Notes that mark a PDF without a usable text layer (or one we cannot open): not counted in pages/s.
NON_TEXT_PDF_NOTES = ("scanned", "image-only", "password required", "malformed")
# Kinds shown first, in this order; the rest follow alphabetically.
KIND_ORDER = ("pdf", "docx", "xlsx", "xlsm", "pptx", "csv", "txt", "md", "html", "eml", "msg")
OFFICE_KINDS = ("docx", "xlsx", "pptx")

# Environment for every peer worker: no hub downloads, no telemetry, no notices on stdout.
PEER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
}

# ---------------------------------------------------------------------------------------------------------------
# Worker scripts. Each is the shared harness plus a tool-specific setup that defines run(path) -> (text, extra).
# ---------------------------------------------------------------------------------------------------------------

WORKER_HARNESS = r"""
import hashlib, json, os, resource, statistics, sys, time

# Keep the protocol channel clean: whatever a library prints goes to stderr.
_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def _send(obj):
    _proto.write(json.dumps(obj) + "\n")
    _proto.flush()


def _serve(run, describe_error, prepare=None):
    _send({"ready": True})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("op") == "rusage":
            _send({"max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
            continue
        path = cmd["path"]
        if cmd.get("warm"):
            try:
                if prepare is not None:
                    prepare()
                run(path)
            except BaseException:
                pass
            _send({"path": path, "warm": True})
            continue
        timings, extras, text, error = [], [], None, None
        for _ in range(int(cmd.get("repeat", 1))):
            if prepare is not None:
                prepare()
            start = time.perf_counter_ns()
            try:
                text, extra = run(path)
            except BaseException as exc:  # a peer's failure is a result, not a crash of the benchmark
                error = describe_error(exc)
                timings.append((time.perf_counter_ns() - start) / 1e6)
                break
            timings.append((time.perf_counter_ns() - start) / 1e6)
            extras.append(extra)
        # Per-stage timings of repeated runs: the median of each, like the total.
        extra = {k: statistics.median(e[k] for e in extras) for k in (extras[0] if extras else {})}
        result = {"path": path, "ms_runs": timings}
        if error is not None:
            result.update(status="error", error=error, chars=0)
        else:
            text = text or ""
            result.update(
                status="ok" if text.strip() else "empty",
                chars=len(text),
                sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                extra=extra,
            )
            if cmd.get("want_text"):
                result["text"] = text
        _send(result)


def _describe(exc):
    return f"{type(exc).__name__}: {str(exc)[:200]}"
"""

WORKER_TOOLS: dict[str, str] = {
    OURS: r"""
from data_extract.pipeline.chunk import chunk_document
from data_extract.pipeline.extract import extract_document
from data_extract.pipeline.normalize import normalize_document
from data_extract.pipeline.types import ExtractionError, ExtractOptions

OPTIONS = ExtractOptions(ocr=os.environ.get("BENCH_OCR") == "1")
CHUNK_SIZE = int(os.environ["BENCH_CHUNK_SIZE"])
CHUNK_OVERLAP = int(os.environ["BENCH_CHUNK_OVERLAP"])


def run(path):
    t0 = time.perf_counter_ns()
    with open(path, "rb") as fh:
        data = fh.read()
    doc = extract_document(data, filename=os.path.basename(path), options=OPTIONS)
    t1 = time.perf_counter_ns()
    doc = normalize_document(doc)
    chunks = chunk_document(doc, source_key=path, chunk_size=CHUNK_SIZE, overlap=CHUNK_OVERLAP)
    t2 = time.perf_counter_ns()
    extra = {"extract_ms": (t1 - t0) / 1e6, "post_ms": (t2 - t1) / 1e6, "chunks": len(chunks)}
    # Chunks overlap; joining them keeps every phrase that any one chunk holds.
    return " ".join(c.text for c in chunks), extra


def describe_error(exc):
    if isinstance(exc, ExtractionError):
        return f"{exc.error_type.value}: {exc.message[:200]}"
    return _describe(exc)


_serve(run, describe_error)
""",
    "pypdfium2": r"""
import pypdfium2 as pdfium


def run(path):
    pdf = pdfium.PdfDocument(path)
    try:
        parts = []
        for page in pdf:
            textpage = page.get_textpage()
            parts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return "\n".join(parts), {}
    finally:
        pdf.close()


_serve(run, _describe)
""",
    "kreuzberg": r"""
import shutil
from kreuzberg import ExtractionConfig, extract_file_sync

_CONFIG = ExtractionConfig(use_cache=False, disable_ocr=os.environ.get("BENCH_OCR") != "1")
_CACHE = os.environ["XDG_CACHE_HOME"]


def prepare():
    # Its OCR cache ignores use_cache=False: start every call from an empty cache (outside the timing).
    shutil.rmtree(_CACHE, ignore_errors=True)
    os.makedirs(_CACHE, exist_ok=True)


def run(path):
    return extract_file_sync(path, config=_CONFIG).content, {}


_serve(run, _describe, prepare)
""",
    "unstructured": r"""
from unstructured.partition.auto import partition


def run(path):
    elements = partition(filename=path, strategy="fast")
    return "\n\n".join(el.text for el in elements if el.text), {"elements": len(elements)}


_serve(run, _describe)
""",
    "markitdown": r"""
from markitdown import MarkItDown

_CONVERTER = MarkItDown()


def run(path):
    return _CONVERTER.convert(path).text_content, {}


_serve(run, _describe)
""",
    "docling": r"""
from docling.document_converter import DocumentConverter

_CONVERTER = DocumentConverter()


def run(path):
    return _CONVERTER.convert(path).document.export_to_markdown(), {}


_serve(run, _describe)
""",
}

VERSION_PROBE = r"""
import importlib.metadata as md, json, sys
names = sys.argv[1:]
out = {}
for n in names:
    try:
        out[n] = md.version(n)
    except md.PackageNotFoundError:
        out[n] = None
print(json.dumps(out))
"""


# ---------------------------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusFile:
    path: str  # relative to the corpus root
    kind: str
    size: int
    pages: int | None
    notes: str

    @property
    def extension(self) -> str:
        return Path(self.path).suffix.lower()

    @property
    def is_text_pdf(self) -> bool:
        notes = self.notes.lower()
        return self.kind == "pdf" and bool(self.pages) and not any(n in notes for n in NON_TEXT_PDF_NOTES)


def load_manifest(corpus: Path) -> list[CorpusFile]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    files = []
    for row in rows:
        pages = row.get("pages_or_sheets_or_slides", "").strip()
        files.append(
            CorpusFile(
                path=row["path"],
                kind=row["kind"].strip().lower(),
                size=int(row["bytes"]),
                pages=int(pages) if pages.isdigit() else None,
                notes=row.get("notes", ""),
            )
        )
    return files


def load_expectations(corpus: Path) -> dict[str, list[str]]:
    expected: dict[str, list[str]] = defaultdict(list)
    with (corpus / "EXPECT.tsv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            expected[row["path"]].append(row["phrase"])
    return dict(expected)


def collapse(text: str) -> str:
    return " ".join(text.split()).lower()


def phrases_missing(text: str, phrases: list[str]) -> list[str]:
    haystack = collapse(text)
    return [phrase for phrase in phrases if collapse(phrase) not in haystack]


def files_for_tool(tool: str, files: list[CorpusFile]) -> list[CorpusFile]:
    if tool == "pypdfium2":
        return [f for f in files if f.kind == "pdf"]
    if tool == "docling":  # its PDF and image pipelines need layout models from an unreachable hub
        return [f for f in files if f.kind != "pdf" and f.kind not in IMAGE_KINDS]
    return list(files)


def warmup_files(files: list[CorpusFile]) -> dict[str, CorpusFile]:
    """Smallest non-empty, well-formed file per extension (falling back to the smallest at all)."""
    by_ext: dict[str, list[CorpusFile]] = defaultdict(list)
    for f in files:
        by_ext[f.extension].append(f)
    chosen = {}
    for ext, group in by_ext.items():
        healthy = [f for f in group if f.size > 0 and not f.path.startswith("broken/")]
        chosen[ext] = min(healthy or group, key=lambda f: (f.size, f.path))
    return chosen


# ---------------------------------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------------------------------


class WorkerDied(Exception):
    pass


class Worker:
    """One tool's worker subprocess, spoken to with one JSON line per command."""

    def __init__(self, tool: str, python: Path, script: Path, env: dict[str, str], log_path: Path) -> None:
        self.tool = tool
        self.python = python
        self.script = script
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.cache_dir: str | None = None

    def start(self, startup_timeout: float) -> None:
        env = dict(self.env)
        if self.tool == "kreuzberg":
            self.cache_dir = tempfile.mkdtemp(prefix="bench-kreuzberg-cache-")
            env["XDG_CACHE_HOME"] = self.cache_dir
        log = self.log_path.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [str(self.python), str(self.script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=tempfile.gettempdir(),
            start_new_session=True,
        )
        log.close()
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()
        self._receive(startup_timeout)

    @staticmethod
    def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def _receive(self, timeout: float) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise TimeoutError from None
        if line is None:
            self.stop()
            raise WorkerDied(self._log_tail())
        return json.loads(line)

    def request(self, command: dict, timeout: float) -> dict:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.stop()
            raise WorkerDied(self._log_tail()) from None
        return self._receive(timeout)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
            self.proc.wait()
            self.proc = None
        if self.cache_dir:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
            self.cache_dir = None

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return "worker exited"
        return (lines[-1] if lines else "worker exited")[:300]


@dataclass
class FileResult:
    path: str
    status: str  # ok | empty | error | timeout
    ms: float | None = None
    chars: int = 0
    error: str = ""
    found: int = 0
    expected: int = 0
    missing: list[str] = field(default_factory=list)  # EXPECT phrases not found
    extract_ms: float | None = None
    post_ms: float | None = None


@dataclass
class ToolRun:
    tool: str
    available: bool
    skip_reason: str = ""
    version: str = ""
    results: dict[str, FileResult] = field(default_factory=dict)
    seconds: float = 0.0


def tool_python(tool: str, peer_venvs: Path) -> Path:
    if tool == OURS:
        project_python = REPO_ROOT / ".venv" / "bin" / "python"
        return project_python if project_python.exists() else Path(sys.executable)
    return peer_venvs / tool / "bin" / "python"


def tool_env(tool: str, ocr: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["BENCH_OCR"] = "1" if ocr else "0"
    if tool == OURS:
        functions_dir = str(REPO_ROOT / "functions")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (functions_dir, env.get("PYTHONPATH", "")) if p)
        env["BENCH_CHUNK_SIZE"] = str(CHUNK_SIZE)
        env["BENCH_CHUNK_OVERLAP"] = str(CHUNK_OVERLAP)
    else:
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        env.update(PEER_ENV)
    return env


def write_worker_script(tool: str, workdir: Path) -> Path:
    script = workdir / f"worker_{tool}.py"
    script.write_text(WORKER_HARNESS + WORKER_TOOLS[tool], encoding="utf-8")
    return script


def probe_version(tool: str, python: Path) -> str:
    if tool == OURS:
        try:
            commit = subprocess.run(
                ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "commit unknown"
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "functions"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return f"commit {commit}" + (" + uncommitted changes" if dirty else "")
    dist = PEER_DISTRIBUTIONS[tool]
    probe = subprocess.run(
        [str(python), "-c", VERSION_PROBE, dist],
        capture_output=True,
        text=True,
        env=tool_env(tool, False),
        check=False,
    )
    try:
        return json.loads(probe.stdout).get(dist) or "?"
    except json.JSONDecodeError:
        return "?"


def ours_importable() -> str:
    """Empty when the pipeline modules import in the project venv, else the reason they do not."""
    probe = subprocess.run(
        [
            str(tool_python(OURS, Path())),
            "-c",
            "import data_extract.pipeline.extract, data_extract.pipeline.normalize, data_extract.pipeline.chunk",
        ],
        capture_output=True,
        text=True,
        env=tool_env(OURS, False),
        check=False,
    )
    if probe.returncode == 0:
        return ""
    lines = probe.stderr.strip().splitlines()
    return lines[-1] if lines else f"import failed ({probe.returncode})"


def run_tool(
    tool: str,
    files: list[CorpusFile],
    *,
    corpus: Path,
    peer_venvs: Path,
    expectations: dict[str, list[str]],
    workdir: Path,
    timeout: float,
    repeat: int,
    ocr: bool,
) -> ToolRun:
    python = tool_python(tool, peer_venvs)
    if not python.exists():
        return ToolRun(tool, available=False, skip_reason=f"venv missing ({python.parent.parent})")
    if tool == OURS:
        reason = ours_importable()
        if reason:
            return ToolRun(tool, available=False, skip_reason=f"pipeline not importable: {reason}")
    run = ToolRun(tool, available=True, version=probe_version(tool, python))
    script = write_worker_script(tool, workdir)
    log_path = workdir / f"worker_{tool}.log"
    worker = Worker(tool, python, script, tool_env(tool, ocr), log_path)
    warm = warmup_files(files)
    warmed: set[str] = set()
    started = time.perf_counter()
    startup_timeout = max(timeout, 300.0)

    def ensure_started() -> None:
        if worker.proc is None:
            worker.start(startup_timeout)
            warmed.clear()  # a fresh worker has cold lazy imports again

    try:
        ensure_started()
    except (TimeoutError, WorkerDied) as exc:
        worker.stop()
        return ToolRun(tool, available=False, skip_reason=f"worker failed to start: {str(exc) or 'timeout'}")

    try:
        for f in files:
            phrases = expectations.get(f.path, [])
            stage = "start"
            try:
                ensure_started()
                if f.extension not in warmed:
                    warmed.add(f.extension)
                    stage = "warm"
                    worker.request({"path": str(corpus / warm[f.extension].path), "warm": True}, timeout)
                stage = "timed"
                reply = worker.request(
                    {"path": str(corpus / f.path), "want_text": bool(phrases), "repeat": repeat}, timeout * repeat
                )
            except TimeoutError:
                where = "" if stage == "timed" else f" in the warm-up call on {warm[f.extension].path}"
                run.results[f.path] = FileResult(
                    f.path, "timeout", error=f"over {timeout:.0f} s{where}", expected=len(phrases)
                )
                continue
            except WorkerDied as exc:
                run.results[f.path] = FileResult(f.path, "error", error=f"worker died: {exc}", expected=len(phrases))
                continue
            runs = reply.get("ms_runs") or [None]
            result = FileResult(
                f.path,
                reply["status"],
                ms=statistics.median(runs) if runs[0] is not None else None,
                chars=reply.get("chars", 0),
                error=reply.get("error", ""),
                expected=len(phrases),
            )
            extra = reply.get("extra") or {}
            if "extract_ms" in extra:
                result.extract_ms = extra["extract_ms"]
                result.post_ms = extra["post_ms"]
            if phrases:
                result.missing = (
                    phrases_missing(reply.get("text", ""), phrases) if reply["status"] == "ok" else phrases
                )
                result.found = len(phrases) - len(result.missing)
            run.results[f.path] = result
    finally:
        worker.stop()
    run.seconds = time.perf_counter() - started
    return run


def measure_peak_rss(files: list[CorpusFile], corpus: Path, workdir: Path, timeout: float, ocr: bool) -> list[dict]:
    """Our peak RSS per kind, each on that kind's largest file, each in a fresh worker."""
    largest: dict[str, CorpusFile] = {}
    for f in files:
        if f.kind not in largest or f.size > largest[f.kind].size:
            largest[f.kind] = f
    script = write_worker_script(OURS, workdir)
    rows = []
    for kind in sorted(largest, key=kind_sort_key):
        f = largest[kind]
        worker = Worker(OURS, tool_python(OURS, Path()), script, tool_env(OURS, ocr), workdir / "worker_memory.log")
        try:
            worker.start(max(timeout, 300.0))
            reply = worker.request({"path": str(corpus / f.path)}, timeout)
            rss = worker.request({"op": "rusage"}, 30)["max_rss_kb"] / 1024
            rows.append(
                {
                    "kind": kind,
                    "path": f.path,
                    "bytes": f.size,
                    "status": reply["status"],
                    "error": reply.get("error", ""),
                    "peak_rss_mb": rss,
                }
            )
        except (TimeoutError, WorkerDied) as exc:
            rows.append(
                {
                    "kind": kind,
                    "path": f.path,
                    "bytes": f.size,
                    "status": "timeout" if isinstance(exc, TimeoutError) else "error",
                    "error": str(exc),
                    "peak_rss_mb": None,
                }
            )
        finally:
            worker.stop()
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Statistics and report
# ---------------------------------------------------------------------------------------------------------------


def kind_sort_key(kind: str) -> tuple[int, str]:
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class KindStats:
    attempted: int = 0
    ok: int = 0
    empty: int = 0
    errors: int = 0
    timeouts: int = 0
    median_ms: float | None = None
    found: int = 0
    expected: int = 0
    text_pdf_pages: int = 0  # pages of the text PDFs this tool extracted ok
    text_pdf_ms: float | None = None  # total time over those PDFs
    median_extract_ms: float | None = None
    median_post_ms: float | None = None
    total_extract_ms: float = 0.0
    total_post_ms: float = 0.0

    @property
    def pages_per_second(self) -> float | None:
        if not self.text_pdf_pages or not self.text_pdf_ms:
            return None
        return self.text_pdf_pages / (self.text_pdf_ms / 1000)

    @property
    def ms_per_page(self) -> float | None:
        if not self.text_pdf_pages or not self.text_pdf_ms:
            return None
        return self.text_pdf_ms / self.text_pdf_pages


def kind_stats(run: ToolRun, files: list[CorpusFile]) -> KindStats:
    stats = KindStats()
    ok_ms, extract_ms, post_ms = [], [], []
    text_pdf_total = 0.0
    for f in files:
        r = run.results.get(f.path)
        if r is None:
            continue
        stats.attempted += 1
        stats.expected += r.expected
        stats.found += r.found
        if r.status == "ok":
            stats.ok += 1
            ok_ms.append(r.ms)
            if r.extract_ms is not None:
                extract_ms.append(r.extract_ms)
                post_ms.append(r.post_ms)
                stats.total_extract_ms += r.extract_ms
                stats.total_post_ms += r.post_ms
            # Pages count only where text came out: a fast failure on a 400-page PDF is no speed.
            if f.is_text_pdf:
                stats.text_pdf_pages += f.pages or 0
                text_pdf_total += r.ms
        elif r.status == "empty":
            stats.empty += 1
        elif r.status == "timeout":
            stats.timeouts += 1
        else:
            stats.errors += 1
    stats.median_ms = median_or_none(ok_ms)
    stats.median_extract_ms = median_or_none(extract_ms)
    stats.median_post_ms = median_or_none(post_ms)
    stats.text_pdf_ms = text_pdf_total if stats.text_pdf_pages else None
    return stats


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:,.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


@dataclass
class Report:
    files: list[CorpusFile]
    runs: dict[str, ToolRun]
    expectations: dict[str, list[str]]
    args: argparse.Namespace
    memory: list[dict] | None = None
    load_averages: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None  # at start, at end

    def stats(self, tool: str, kind: str | None = None) -> KindStats:
        files = [f for f in self.files if kind is None or f.kind == kind]
        return kind_stats(self.runs[tool], files)

    @property
    def kinds(self) -> list[str]:
        return sorted({f.kind for f in self.files}, key=kind_sort_key)

    @property
    def available_tools(self) -> list[str]:
        return [t for t, r in self.runs.items() if r.available]

    # -- targets -----------------------------------------------------------------------------------------------

    def targets(self) -> list[tuple[str, str, str]]:
        """(target, measured, verdict) rows; verdict is 'met', 'not met' or 'not measured'."""
        rows: list[tuple[str, str, str]] = []
        ours_ok = OURS in self.available_tools
        pdf = self.stats(OURS, "pdf") if ours_ok and "pdf" in self.kinds else None

        def per_page(tool: str) -> float | None:
            if tool not in self.available_tools or "pdf" not in self.kinds:
                return None
            return self.stats(tool, "pdf").ms_per_page

        ours_page = per_page(OURS) if pdf else None
        floor_page = per_page("pypdfium2")
        r = ratio(ours_page, floor_page)
        rows.append(
            (
                "PDF within 1.5x of raw pypdfium2 per page",
                f"{fmt_ratio(r)} ({fmt_ms(ours_page)} vs {fmt_ms(floor_page)} ms/page)" if r else "—",
                "not measured" if r is None else ("met" if r <= 1.5 else "not met"),
            )
        )
        kz_page = per_page("kreuzberg")
        r = ratio(ours_page, kz_page)
        rows.append(
            (
                "PDF faster than kreuzberg per page",
                f"{fmt_ratio(r)} of kreuzberg's time ({fmt_ms(ours_page)} vs {fmt_ms(kz_page)} ms/page)"
                if r
                else "—",
                "not measured" if r is None else ("met" if r < 1.0 else "not met"),
            )
        )
        for kind in OFFICE_KINDS:
            ours_med = self.stats(OURS, kind).median_ms if ours_ok and kind in self.kinds else None
            kz_med = (
                self.stats("kreuzberg", kind).median_ms
                if "kreuzberg" in self.available_tools and kind in self.kinds
                else None
            )
            r = ratio(ours_med, kz_med)
            rows.append(
                (
                    f"{kind.upper()} within 2x of kreuzberg (median per file)",
                    f"{fmt_ratio(r)} ({fmt_ms(ours_med)} vs {fmt_ms(kz_med)} ms)" if r else "—",
                    "not measured" if r is None else ("met" if r <= 2.0 else "not met"),
                )
            )
        for peer in ("unstructured", "markitdown"):
            if not ours_ok or peer not in self.available_tools:
                rows.append((f">=30x faster than {peer} on every format", "—", "not measured"))
                continue
            speedups = []
            for kind in self.kinds:
                s = ratio(self.stats(peer, kind).median_ms, self.stats(OURS, kind).median_ms)
                if s is not None:
                    speedups.append((s, kind))
            if not speedups:
                rows.append((f">=30x faster than {peer} on every format", "—", "not measured"))
                continue
            worst, worst_kind = min(speedups)
            slow = sorted(k for s, k in speedups if s < 30)
            detail = f"slowest margin {fmt_ratio(worst)} on {worst_kind} over {len(speedups)} formats"
            if slow:
                detail += f"; under 30x: {', '.join(slow)}"
            rows.append((f">=30x faster than {peer} on every format", detail, "met" if not slow else "not met"))
        if ours_ok:
            ours_found = self.stats(OURS).found
            peer_found = {t: self.stats(t).found for t in self.available_tools if t != OURS}
            best = max(peer_found.items(), key=lambda kv: kv[1]) if peer_found else None
            total = sum(len(v) for k, v in self.expectations.items() if k in {f.path for f in self.files})
            if best is None:
                rows.append(("EXPECT recall >= best peer", f"{ours_found}/{total}", "not measured"))
            else:
                rows.append(
                    (
                        "EXPECT recall >= best peer",
                        f"{ours_found}/{total} vs {best[1]}/{total} ({PEER_LABELS[best[0]]})",
                        "met" if ours_found >= best[1] else "not met",
                    )
                )
        else:
            rows.append(("EXPECT recall >= best peer", "—", "not measured"))
        if self.memory is not None:
            peaks = [m for m in self.memory if m["peak_rss_mb"] is not None]
            if peaks:
                top = max(peaks, key=lambda m: m["peak_rss_mb"])
                rows.append(
                    (
                        "peak RSS < 512 MB on the largest files",
                        f"{top['peak_rss_mb']:.0f} MiB ({top['path']})",
                        "met" if top["peak_rss_mb"] < 512 else "not met",
                    )
                )
            else:
                rows.append(("peak RSS < 512 MB on the largest files", "—", "not measured"))
        return rows

    # -- rendering ---------------------------------------------------------------------------------------------

    def kind_table(self, kind: str) -> list[list[str]]:
        kind_files = [f for f in self.files if f.kind == kind]
        header = ["tool", "ok", "empty", "error", "timeout", "median ms/file", "time vs ours (median)"]
        is_pdf = kind == "pdf"
        if is_pdf:
            header += ["text-PDF pages/s", "time vs ours (per page)"]
        header += ["EXPECT recall"]
        rows = [header]
        ours = self.stats(OURS, kind) if OURS in self.available_tools else None
        for tool, run in self.runs.items():
            if not run.available:
                continue
            if not files_for_tool(tool, kind_files):
                continue
            s = self.stats(tool, kind)
            row = [
                PEER_LABELS[tool],
                f"{s.ok}/{s.attempted}",
                str(s.empty),
                str(s.errors),
                str(s.timeouts),
                fmt_ms(s.median_ms),
                fmt_ratio(ratio(s.median_ms, ours.median_ms)) if ours else "—",
            ]
            if is_pdf:
                pps = s.pages_per_second
                row += [
                    f"{pps:,.0f}" if pps else "—",
                    fmt_ratio(ratio(s.ms_per_page, ours.ms_per_page)) if ours else "—",
                ]
            row += [f"{s.found}/{s.expected}" if s.expected else "—"]
            rows.append(row)
        return rows

    def summary_table(self) -> list[list[str]]:
        rows = [["tool", "version", "files ok", "empty", "error", "timeout", "EXPECT recall", "wall time s"]]
        for tool, run in self.runs.items():
            if not run.available:
                rows.append([PEER_LABELS[tool], "—", "skipped", "", "", "", "", ""])
                continue
            s = self.stats(tool)
            pct = f" ({100 * s.found / s.expected:.0f}%)" if s.expected else ""
            rows.append(
                [
                    PEER_LABELS[tool],
                    run.version,
                    f"{s.ok}/{s.attempted}",
                    str(s.empty),
                    str(s.errors),
                    str(s.timeouts),
                    f"{s.found}/{s.expected}{pct}",
                    f"{run.seconds:.1f}",
                ]
            )
        return rows

    def skipped_lines(self) -> list[str]:
        return [f"{PEER_LABELS[t]} skipped: {r.skip_reason}" for t, r in self.runs.items() if not r.available]

    def split_line(self, kind: str | None) -> str:
        if OURS not in self.available_tools:
            return ""
        s = self.stats(OURS, kind)
        total = s.total_extract_ms + s.total_post_ms
        if not total:
            return ""
        return (
            f"data-extract split (ok files): extract median {fmt_ms(s.median_extract_ms)} ms, normalize+chunk median "
            f"{fmt_ms(s.median_post_ms)} ms; totals {fmt_ms(s.total_extract_ms)} + {fmt_ms(s.total_post_ms)} ms "
            f"({100 * s.total_post_ms / total:.0f}% in normalize+chunk)"
        )

    def not_ok_lines(self, kind: str) -> list[str]:
        """Our non-ok files of this kind with their error type, our missed phrases, and any tool's timeouts."""
        lines = []
        for f in (f for f in self.files if f.kind == kind):
            for tool, run in self.runs.items():
                r = run.results.get(f.path)
                if r is None:
                    continue
                if r.status != "ok" and (tool == OURS or r.status == "timeout"):
                    lines.append(f"{PEER_LABELS[tool]}: {f.path}: {r.status}" + (f" ({r.error})" if r.error else ""))
                if tool == OURS and r.status == "ok" and r.missing:
                    missed = "; ".join(repr(p) for p in r.missing)
                    lines.append(f"{PEER_LABELS[tool]}: {f.path}: EXPECT phrase not found: {missed}")
        return lines

    def environment(self) -> list[tuple[str, str]]:
        cpu = "unknown"
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        text_pdfs = [f for f in self.files if f.is_text_pdf]
        text_pdf_pages = sum(f.pages or 0 for f in text_pdfs)
        return [
            ("date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
            ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
            (
                "cpu",
                f"{cpu}, {os.cpu_count()} cores"
                + (
                    f"; load average {self.load_averages[0][0]:.2f} at start, {self.load_averages[1][0]:.2f} at end"
                    if self.load_averages
                    else ""
                ),
            ),
            ("corpus", f"{len(self.files)} files; {len(text_pdfs)} text PDFs, {text_pdf_pages} pages"),
            (
                "settings",
                (
                    f"chunk_size={CHUNK_SIZE}, overlap={CHUNK_OVERLAP}, OCR {'on' if self.args.ocr else 'off'} "
                    f"(ours and kreuzberg), median of {self.args.repeat} run(s) per file for ours and "
                    f"{self.args.peer_repeat} for peers, per-file timeout {self.args.timeout:.0f} s"
                    + (f", run at niceness {os.nice(0)}" if os.nice(0) else "")
                ),
            ),
            (
                "tools",
                "; ".join(
                    f"{PEER_LABELS[t]} {r.version}" if r.available else f"{PEER_LABELS[t]} skipped ({r.skip_reason})"
                    for t, r in self.runs.items()
                ),
            ),
        ]

    def render_text(self) -> str:
        out = []
        for key, value in self.environment():
            out.append(f"{key:9} {value}")
        out.append("")
        out.append(render_plain(self.summary_table()))
        out.extend(self.skipped_lines())
        for kind in self.kinds:
            out.append("")
            out.append(f"== {kind} ({sum(1 for f in self.files if f.kind == kind)} files)")
            out.append(render_plain(self.kind_table(kind)))
            split = self.split_line(kind)
            if split:
                out.append(split)
            out.extend(f"  {line}" for line in self.not_ok_lines(kind))
        out.append("")
        out.append("== targets")
        out.append(render_plain([["target", "measured", "verdict"], *map(list, self.targets())]))
        if self.memory:
            out.append("")
            out.append("== peak RSS of data-extract (fresh process, largest file per kind)")
            out.append(render_plain(self.memory_table()))
        return "\n".join(out)

    def memory_table(self) -> list[list[str]]:
        rows = [["kind", "file", "MiB on disk", "status", "peak RSS MiB"]]
        for m in self.memory or []:
            rows.append(
                [
                    m["kind"],
                    m["path"],
                    f"{m['bytes'] / 1048576:.1f}",
                    m["status"] + (f" ({m['error'][:60]})" if m["status"] != "ok" and m["error"] else ""),
                    f"{m['peak_rss_mb']:.0f}" if m["peak_rss_mb"] is not None else "—",
                ]
            )
        return rows

    def render_markdown(self) -> str:
        lines = [
            "# Extraction benchmark",
            "",
            "Generated by `tests/benchmarks/extract_bench.py --write` (see its docstring for the method); do not "
            "edit by hand. Every tool runs in its own process and venv and is timed on its extraction call only, "
            "after a warm-up call per file extension; a file's time is the median of its repeated runs. Median ms "
            "is over the files the tool extracted with text; pages/s is over the text PDFs (MANIFEST page counts; "
            'scanned, image-only, malformed and password-required PDFs excluded); "time vs ours" is the tool\'s time '
            "over ours (above 1x: slower than data-extract).",
            "",
        ]
        lines += [f"- **{key}**: {value}" for key, value in self.environment()]
        lines += [
            "",
            "## Targets",
            "",
            "PDF within 1.5x of raw pypdfium2 per page and faster than kreuzberg; DOCX/XLSX/PPTX within 2x of "
            "kreuzberg; at least 30x faster than unstructured and markitdown on every format; EXPECT recall at "
            "least the best peer's; peak RSS under 512 MB. Verdicts are computed from the numbers below.",
            "",
            render_markdown_table([["target", "measured", "verdict"], *map(list, self.targets())]),
            "",
            "## Summary",
            "",
            render_markdown_table(self.summary_table()),
        ]
        skipped = self.skipped_lines()
        if skipped:
            lines += [""] + [f"- {line}" for line in skipped]
        for kind in self.kinds:
            lines += ["", f"## {kind} ({sum(1 for f in self.files if f.kind == kind)} files)", ""]
            lines.append(render_markdown_table(self.kind_table(kind)))
            split = self.split_line(kind)
            if split:
                lines += ["", split]
            not_ok = self.not_ok_lines(kind)
            if not_ok:
                lines += [""] + [f"- {line}" for line in not_ok]
        if self.memory:
            lines += [
                "",
                "## Peak memory of data-extract",
                "",
                "ru_maxrss of a fresh worker process that extracts, normalizes and chunks one file "
                "(the largest of each kind).",
                "",
            ]
            lines.append(render_markdown_table(self.memory_table()))
        return "\n".join(lines) + "\n"


def render_plain(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def render_markdown_table(rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    header, *body = rows
    aligns = ["---"] + [
        "---:" if all(_numeric(r[i]) for r in body if i < len(r) and r[i]) else "---" for i in range(1, len(header))
    ]
    return "\n".join([line(header), "| " + " | ".join(aligns) + " |", *(line(r) for r in body)])


_NUMERIC_CELL = re.compile(r"[\d.,/x%() —]+")


def _numeric(cell: str) -> bool:
    return bool(_NUMERIC_CELL.fullmatch(cell))


# ---------------------------------------------------------------------------------------------------------------
# OCR section: scans and page images, today's OCR against Tesseract as it was wired before, in one run
# ---------------------------------------------------------------------------------------------------------------

OCR_PHRASES_PATH = REPO_ROOT / "tests" / "data" / "ocr_phrases.tsv"
OCR_SECTION_START = "<!-- ocr-section: written by extract_bench.py --ocr-section --write -->"
OCR_SECTION_END = "<!-- /ocr-section -->"
# Tesseract as the pipeline fed it before orientation detection, text-size-based enlargement, deskew, per-page
# segmentation and vertical-line reading: PDF scans rendered at 300 DPI, image frames enlarged to a 1600-pixel
# long side (at most 2x), one automatic-segmentation pass, PDF text layers kept whatever their quality.
BASELINE_LABEL = "Tesseract as wired before (300-DPI render or 1600-px upscale, --psm 3, no OSD/deskew)"
BASELINE_RENDER_DPI = 300
BASELINE_UPSCALE_LONG_SIDE = 1600
BASELINE_MAX_PIXELS = 40_000_000


def load_ocr_phrases(path: Path = OCR_PHRASES_PATH) -> dict[str, dict[int, list[str]]]:
    """``{corpus path: {page: [phrases]}}`` from the phrase file (comment lines start with '#')."""
    phrases: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [line for line in fh if line.strip() and not line.startswith("#")]
    for row in csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE):
        phrases[row["path"]][int(row["page"])].append(row["phrase"])
    return {p: dict(pages) for p, pages in phrases.items()}


def ocr_corpus_files(files: list[CorpusFile]) -> list[CorpusFile]:
    """The corpus's scanned/image-only PDFs and its image files: what OCR reads."""
    scans = [
        f for f in files if f.kind == "pdf" and ("scanned" in f.notes.lower() or "image-only" in f.notes.lower())
    ]
    images = [f for f in files if f.kind in IMAGE_KINDS]
    return scans + images


def _baseline_tesseract(image, dpi: int | None) -> str:
    """One ``--psm 3`` TSV pass, text rebuilt line by line with a blank line between paragraphs."""
    buffer = __import__("io").BytesIO()
    image.save(buffer, format="PPM")
    args = ["tesseract", "stdin", "stdout", "-l", "eng", "--psm", "3", "-c", "thresholding_method=2"]
    if dpi:
        args += ["--dpi", str(int(dpi))]
    completed = subprocess.run(
        [*args, "tsv"],
        input=buffer.getvalue(),
        capture_output=True,
        timeout=300,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        check=False,
    )
    lines: list[str] = []
    key = paragraph = None
    for row in completed.stdout.decode("utf-8", "replace").splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
            continue
        if (fields[2], fields[3], fields[4]) != key:
            if paragraph is not None and (fields[2], fields[3]) != paragraph:
                lines.append("")
            lines.append(fields[11].strip())
            key, paragraph = (fields[2], fields[3], fields[4]), (fields[2], fields[3])
        else:
            lines[-1] += " " + fields[11].strip()
    return "\n".join(lines)


def _baseline_frame(image, index: int):
    from PIL import Image, ImageOps

    image.seek(index)
    frame = ImageOps.exif_transpose(image) if index == 0 else image.copy()
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        frame = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        frame.alpha_composite(rgba)
    frame = frame.convert("L")
    try:
        declared = image.info.get("dpi")
        dpi = float(declared[0] if isinstance(declared, tuple | list) else declared)
        dpi = round(dpi) if 70 <= dpi <= 2400 else None
    except (TypeError, ValueError, IndexError):
        dpi = None
    width, height = frame.size
    scale = 1.0
    if width * height > BASELINE_MAX_PIXELS:
        scale = (BASELINE_MAX_PIXELS / (width * height)) ** 0.5
    elif max(width, height) < BASELINE_UPSCALE_LONG_SIDE:
        scale = min(2.0, BASELINE_UPSCALE_LONG_SIDE / max(width, height))
    if scale != 1.0:
        frame = frame.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS)
        dpi = round(dpi * scale) if dpi else None
    return frame, dpi


def baseline_pages(data: bytes, kind: str) -> tuple[dict[int, str], int]:
    """Per-page text as the pipeline produced it before this OCR work, and how many pages were OCR'd."""
    pages: dict[int, str] = {}
    recognised = 0
    if kind == "pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(data)
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
                if not text.strip():
                    width, height = page.get_size()
                    scale = BASELINE_RENDER_DPI / 72.0
                    if width * scale * height * scale > BASELINE_MAX_PIXELS:
                        scale *= (BASELINE_MAX_PIXELS / (width * scale * height * scale)) ** 0.5
                    bitmap = page.render(scale=scale, grayscale=True)
                    text = _baseline_tesseract(bitmap.to_pil(), round(scale * 72))
                    bitmap.close()
                    recognised += 1
                page.close()
                pages[index + 1] = text
        finally:
            pdf.close()
        return pages, recognised
    from PIL import Image

    image = Image.open(__import__("io").BytesIO(data))
    frames = max(int(getattr(image, "n_frames", 1)), 1) if image.format == "TIFF" else 1
    for index in range(frames):
        frame, dpi = _baseline_frame(image, index)
        pages[index + 1] = _baseline_tesseract(frame, dpi)
        recognised += 1
    return pages, recognised


def current_pages(data: bytes, filename: str) -> tuple[dict[int, str], list[dict]]:
    """Per-page text from today's pipeline with OCR on, and each OCR'd page's provenance."""
    from data_extract.pipeline.extract import extract_document
    from data_extract.pipeline.types import ExtractionError, ExtractOptions

    try:
        document = extract_document(data, filename=filename, options=ExtractOptions(ocr=True))
    except ExtractionError:  # a page without words is "empty": no text, nothing found
        return {}, []
    pages: dict[int, list[str]] = defaultdict(list)
    provenance = []
    for block in document.blocks:
        pages[block.page or 1].append(block.text)
        if block.kind == "ocr":
            provenance.append(
                {k: v for k, v in block.meta.items() if k.startswith(("ocr_", "text_layer"))} | {"page": block.page}
            )
    return {p: "\n\n".join(t) for p, t in pages.items()}, provenance


def _normalized(pages: dict[int, str], fmt: str) -> dict[int, str]:
    """Both readings go through the same normalize stage the pipeline applies before chunking."""
    from data_extract.pipeline.normalize import normalize_document
    from data_extract.pipeline.types import Block, Document

    document = normalize_document(
        Document(format=fmt, blocks=[Block(kind="ocr", text=t, page=p) for p, t in pages.items() if t.strip()])
    )
    out: dict[int, list[str]] = defaultdict(list)
    for block in document.blocks:
        out[block.page].append(block.text)
    return {p: "\n".join(t) for p, t in out.items()}


@dataclass
class OcrFileResult:
    path: str
    pages: int  # pages (frames) without a text layer: what both readings OCR
    phrases: int
    found_before: int
    found_now: int
    seconds_before: float
    seconds_now: float
    missed_now: list[str] = field(default_factory=list)
    missed_before: list[str] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)


def run_ocr_section(
    corpus: Path, files: list[CorpusFile], phrases: dict[str, dict[int, list[str]]]
) -> list[OcrFileResult]:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    results = []
    for f in ocr_corpus_files(files):
        data = (corpus / f.path).read_bytes()
        fmt = "pdf" if f.kind == "pdf" else f.kind
        started = time.perf_counter()
        before, pages_before = baseline_pages(data, f.kind)
        seconds_before = time.perf_counter() - started
        started = time.perf_counter()
        now, provenance = current_pages(data, Path(f.path).name)
        seconds_now = time.perf_counter() - started
        before, now = _normalized(before, fmt), _normalized(now, fmt)
        result = OcrFileResult(f.path, pages_before, 0, 0, 0, seconds_before, seconds_now, provenance=provenance)
        for page, wanted in sorted(phrases.get(f.path, {}).items()):
            for phrase in wanted:
                result.phrases += 1
                if collapse(phrase) in collapse(before.get(page, "")):
                    result.found_before += 1
                else:
                    result.missed_before.append(f"p{page}: {phrase}")
                if collapse(phrase) in collapse(now.get(page, "")):
                    result.found_now += 1
                else:
                    result.missed_now.append(f"p{page}: {phrase}")
        print(
            f"  {f.path}: {result.found_before}/{result.phrases} -> {result.found_now}/{result.phrases} "
            f"({seconds_before:.1f} s -> {seconds_now:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    return results


def _tesseract_version() -> str:
    try:
        out = subprocess.run(["tesseract", "--version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    first = (out.stdout or out.stderr).decode("utf-8", "replace").splitlines()
    return first[0] if first else "unknown"


def render_ocr_section(results: list[OcrFileResult], load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    phrases = sum(r.phrases for r in results)
    before = sum(r.found_before for r in results)
    now = sum(r.found_now for r in results)
    pages = sum(r.pages for r in results)
    seconds_now = sum(r.seconds_now for r in results)
    seconds_before = sum(r.seconds_before for r in results)

    def pct(found: int) -> str:
        return f"{found}/{phrases} ({100 * found / phrases:.0f}%)" if phrases else "—"

    rows = [["file", "OCR pages", "phrases", "found before", "found now", "s before", "s now"]]
    for r in results:
        rows.append(
            [
                r.path,
                str(r.pages),
                str(r.phrases),
                str(r.found_before),
                str(r.found_now),
                f"{r.seconds_before:.1f}",
                f"{r.seconds_now:.1f}",
            ]
        )
    rows.append(
        ["**all**", str(pages), str(phrases), str(before), str(now), f"{seconds_before:.1f}", f"{seconds_now:.1f}"]
    )
    lines = [
        OCR_SECTION_START,
        "## OCR: scans and page images",
        "",
        "Generated by `tests/benchmarks/extract_bench.py --ocr-section --write` (do not edit by hand). Every scanned "
        "or image-only PDF and every image file of the corpus is read twice in the same run, in one process, "
        "`OMP_THREAD_LIMIT=1`: **before** is " + BASELINE_LABEL + "; **now** is the pipeline's `extract_document` "
        "with OCR on (orientation and script detection, enlargement of small text, deskew, segmentation chosen per "
        "page, vertical lines read whole). Both readings go through the normalize stage. Recall counts the phrases "
        "of `tests/data/ocr_phrases.tsv` (read by eye off the page images) found on their page, whitespace "
        "collapsed, case-insensitively.",
        "",
        f"- **date**: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- **tesseract**: {_tesseract_version()}",
        f"- **cpu**: {os.cpu_count()} cores; load average {load[0][0]:.2f} at start, {load[1][0]:.2f} at end "
        "(a shared machine: timings move with its load, so compare the two columns of one run, not runs)",
        f"- **phrase recall**: before {pct(before)}, now {pct(now)}",
        f"- **pages/s with OCR**: before {pages / seconds_before:.2f}, now {pages / seconds_now:.2f} ({pages} pages; "
        f"{seconds_before:.1f} s before, {seconds_now:.1f} s now)"
        if seconds_before and seconds_now
        else "- **pages/s with OCR**: —",
        "",
        render_markdown_table(rows),
    ]
    misses = [f"- now misses {r.path} {m}" for r in results for m in r.missed_now]
    if misses:
        lines += ["", *misses]
    turned = [
        f"{r.path} p{p['page']} ({p['ocr_rotation']}°)"
        for r in results
        for p in r.provenance
        if p.get("ocr_rotation")
    ]
    skewed = [f"{r.path} p{p['page']} ({p['ocr_skew']}°)" for r in results for p in r.provenance if p.get("ocr_skew")]
    enlarged = [
        f"{r.path} p{p['page']} ({p['ocr_scale']}x)"
        for r in results
        for p in r.provenance
        if p.get("ocr_scale", 1.0) > 1.0
    ]
    sparse = [f"{r.path} p{p['page']}" for r in results for p in r.provenance if p.get("ocr_psm") == 11]
    vertical = [f"{r.path} p{p['page']}" for r in results for p in r.provenance if p.get("ocr_vertical_lines")]
    lines += ["", "What the pipeline did to the pages it read:", ""]
    for label, items in (
        ("turned upright", turned),
        ("straightened", skewed),
        ("enlarged", enlarged),
        ("read with sparse-text segmentation", sparse),
        ("vertical lines read whole", vertical),
    ):
        lines.append(f"- {label}: {', '.join(items) if items else 'none'}")
    lines.append(OCR_SECTION_END)
    return "\n".join(lines) + "\n"


def write_ocr_section(markdown: str) -> None:
    """Replace the OCR section of the report (or append it at the end), leaving the rest as it is."""
    existing = REPORT_PATH.read_text(encoding="utf-8") if REPORT_PATH.exists() else "# Extraction benchmark\n"
    if OCR_SECTION_START in existing and OCR_SECTION_END in existing:
        head = existing[: existing.index(OCR_SECTION_START)]
        tail = existing[existing.index(OCR_SECTION_END) + len(OCR_SECTION_END) :].lstrip("\n")
        updated = head + markdown + ("\n" + tail if tail else "")
    else:
        updated = existing.rstrip("\n") + "\n\n" + markdown
    REPORT_PATH.write_text(updated, encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path(os.environ.get("DATA_EXTRACT_CORPUS_DIR") or DEFAULT_CORPUS)
    )
    parser.add_argument(
        "--peer-venvs", type=Path, default=Path(os.environ.get("DATA_EXTRACT_BENCH_VENVS") or DEFAULT_PEER_VENVS)
    )
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma-separated subset of {', '.join(PEERS)}, or 'none' (default: all)",
    )
    parser.add_argument("--only", default="", help="comma-separated MANIFEST kinds, e.g. pdf,docx (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per file for data-extract (median)")
    parser.add_argument(
        "--peer-repeat",
        type=int,
        default=1,
        help="timed runs per file for each peer (median); steadies the numbers on a busy machine",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per file before a worker is killed")
    parser.add_argument("--ocr", action="store_true", help="let data-extract and kreuzberg OCR image-only pages")
    parser.add_argument("--memory", action="store_true", help="measure data-extract's peak RSS on the largest files")
    parser.add_argument(
        "--write", action="store_true", help=f"write the report to {REPORT_PATH.relative_to(REPO_ROOT)}"
    )
    parser.add_argument("--json", type=Path, help="also dump every per-file result as JSON here")
    parser.add_argument(
        "--ocr-section",
        action="store_true",
        help="also read the corpus's scans and page images with OCR, now and as wired before "
        f"(phrases: {OCR_PHRASES_PATH.relative_to(REPO_ROOT)}); --write updates only its section",
    )
    parser.add_argument("--ocr-section-only", action="store_true", help="run the OCR section and nothing else")
    args = parser.parse_args(argv)
    peers = [] if args.peers.strip() == "none" else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        parser.error(f"unknown peers: {', '.join(unknown)} (known: {', '.join(PEERS)})")
    args.peer_list = [p for p in PEERS if p in peers]
    args.kinds = {k.strip().lower() for k in args.only.split(",") if k.strip()}
    if args.repeat < 1 or args.peer_repeat < 1:
        parser.error("--repeat and --peer-repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    corpus = args.corpus.resolve()
    if not (corpus / "MANIFEST.tsv").is_file():
        print(f"corpus not found: {corpus} (set --corpus or DATA_EXTRACT_CORPUS_DIR)", file=sys.stderr)
        return 2
    files = load_manifest(corpus)
    if args.kinds:
        unknown = args.kinds - {f.kind for f in files}
        if unknown:
            print(f"no files of kind {', '.join(sorted(unknown))} in the manifest", file=sys.stderr)
            return 2
        files = [f for f in files if f.kind in args.kinds]
    expectations = load_expectations(corpus)
    if args.ocr_section or args.ocr_section_only:
        ocr_load = os.getloadavg()
        print("OCR section: scans and page images, before and now ...", file=sys.stderr, flush=True)
        ocr_results = run_ocr_section(corpus, load_manifest(corpus), load_ocr_phrases())
        ocr_markdown = render_ocr_section(ocr_results, (ocr_load, os.getloadavg()))
        print(ocr_markdown)
        if args.write:
            write_ocr_section(ocr_markdown)
            print(f"wrote the OCR section of {REPORT_PATH.relative_to(REPO_ROOT)}", file=sys.stderr)
        if args.ocr_section_only:
            return 0

    runs: dict[str, ToolRun] = {}
    memory = None
    load_at_start = os.getloadavg()
    if load_at_start[0] > 1.0:
        print(
            f"warning: load average {load_at_start[0]:.2f} before the run: other work on this machine will skew "
            "the timings",
            file=sys.stderr,
            flush=True,
        )
    with tempfile.TemporaryDirectory(prefix="extract-bench-") as tmp:
        workdir = Path(tmp)
        for tool in [OURS, *args.peer_list]:
            tool_files = files_for_tool(tool, files)
            print(f"running {PEER_LABELS[tool]} on {len(tool_files)} files ...", file=sys.stderr, flush=True)
            runs[tool] = run_tool(
                tool,
                tool_files,
                corpus=corpus,
                peer_venvs=args.peer_venvs,
                expectations=expectations,
                workdir=workdir,
                timeout=args.timeout,
                repeat=args.repeat if tool == OURS else args.peer_repeat,
                ocr=args.ocr,
            )
            if not runs[tool].available:
                print(f"  skipped: {runs[tool].skip_reason}", file=sys.stderr, flush=True)
        if args.memory and runs[OURS].available:
            print("measuring data-extract peak RSS ...", file=sys.stderr, flush=True)
            memory = measure_peak_rss(files, corpus, workdir, args.timeout, args.ocr)

    report = Report(
        files=files,
        runs=runs,
        expectations=expectations,
        args=args,
        memory=memory,
        load_averages=(load_at_start, os.getloadavg()),
    )
    print(report.render_text())
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    tool: {
                        "available": r.available,
                        "skip_reason": r.skip_reason,
                        "version": r.version,
                        "results": [vars(x) for x in r.results.values()],
                    }
                    for tool, r in runs.items()
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    if args.write:
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        # The analysis of the targets is written by people, below a marker; a new run keeps it.
        analysis = ""
        if REPORT_PATH.exists():
            previous = REPORT_PATH.read_text(encoding="utf-8")
            if ANALYSIS_MARKER in previous:
                analysis = "\n" + previous[previous.index(ANALYSIS_MARKER) :]
        REPORT_PATH.write_text(report.render_markdown().rstrip("\n") + "\n" + analysis, encoding="utf-8")
        print(f"\nwrote {REPORT_PATH.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

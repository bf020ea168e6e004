"""Terminal output: tables, the live progress of a job, byte sizes."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from data_extract.client import DataExtractClient
from data_extract.contract import JobDetail, JobProgress

STATUS_STYLE = {
    "completed": "green",
    "processed": "green",
    "partial": "yellow",
    "skipped": "yellow",
    "failed": "red",
    "cancelled": "red",
    "running": "cyan",
    "queued": "blue",
    "ok": "green",
    "degraded": "yellow",
    "error": "red",
}


def styled(status: Any) -> str:
    text = str(status)
    style = STATUS_STYLE.get(text)
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def when(value: Any) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value)


def table(*columns: str, title: str | None = None) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold", show_edge=False, pad_edge=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    return out


def counts_text(progress: JobProgress, markup: bool = True) -> str:
    parts = [
        ("processed", progress.processed, "green"),
        ("failed", progress.failed, "red"),
        ("skipped", progress.skipped, "yellow"),
        ("pending", progress.pending, "blue"),
    ]
    if not markup:
        return "  ".join(f"{name} {count}" for name, count, _ in parts)
    return "  ".join(f"[{style}]{name} {count}[/]" for name, count, style in parts)


def watch_job(
    client: DataExtractClient,
    job_id: str,
    console: Console,
    *,
    quiet: bool,
    poll_interval: float,
    timeout: float | None,
) -> JobDetail:
    """Wait for a job to end, showing a live bar of processed/failed/skipped/pending files on a terminal, a line
    per change elsewhere (on stderr), nothing with `quiet` (--json)."""
    if quiet:
        return client.wait_for_job(job_id, poll_interval=poll_interval, timeout=timeout)
    if not console.is_terminal:
        last: list[str] = []

        def line(detail: JobDetail) -> None:
            text = (
                f"{job_id} {detail.status}: {counts_text(detail.progress, markup=False)} of {detail.progress.total}"
            )
            if text not in last:
                last[:] = [text]
                print(text, file=sys.stderr, flush=True)

        return client.wait_for_job(job_id, poll_interval=poll_interval, timeout=timeout, on_update=line)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"job {job_id}", total=None, counts="")

        def update(detail: JobDetail) -> None:
            p = detail.progress
            bar.update(
                task,
                total=p.total or None,
                completed=p.processed + p.failed + p.skipped,
                counts=counts_text(p),
                description=f"job {job_id} {styled(detail.status)}",
            )

        detail = client.wait_for_job(job_id, poll_interval=poll_interval, timeout=timeout, on_update=update)
        update(detail)
        return detail


def job_summary(console: Console, detail: JobDetail, *, file_rows: int | None = None) -> None:
    """The table printed when a job ends: one row per file, then the counts."""
    files = table("file", "status", "format", "chunks", "size", "error", title=f"job {detail.job_id}")
    ordered = sorted(detail.files, key=lambda f: f.source_path)
    rows = ordered if file_rows is None else ordered[:file_rows]
    for f in rows:
        error = f"{f.error_type}: {f.error_message}" if f.error_type else (f.error_message or "")
        files.add_row(
            escape(f.source_path),
            styled(f.status),
            f.detected_format or "-",
            str(f.chunk_count),
            human_bytes(f.size_bytes),
            escape(error),
        )
    console.print(files)
    if file_rows is not None and len(detail.files) > file_rows:
        console.print(f"... {len(detail.files) - file_rows} more file(s)")
    console.print(f"{styled(detail.status)}: {counts_text(detail.progress)} of {detail.progress.total} file(s)")


def key_values(console: Console, pairs: Iterable[tuple[str, Any]]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in pairs:
        grid.add_row(key, value if isinstance(value, str) and value.startswith("[") else escape(str(value)))
    console.print(grid)


class Ticker:
    """Byte progress of uploads and downloads on a terminal; silent elsewhere."""

    def __init__(self, console: Console, description: str, total: int | None, enabled: bool) -> None:
        self.enabled = enabled and console.is_terminal
        self._progress: Progress | None = None
        self._started = time.monotonic()
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[done]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._progress.add_task(description, total=total, done="")
            self._progress.start()

    def update(self, done: int, total: int | None) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task, completed=done, total=total, done=f"{human_bytes(done)} / {human_bytes(total)}"
            )

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()

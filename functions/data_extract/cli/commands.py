"""The data-extract command: every subcommand, each a thin layer over the client."""

from __future__ import annotations

import dataclasses
import fnmatch
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from data_extract.cli import render
from data_extract.cli.context import ExitCode, exit_code_for_status, global_options, state
from data_extract.client import FileSelectionError, collect_files
from data_extract.client._core import UploadMode
from data_extract.client.config import forget_api_key, save_profile
from data_extract.contract import DetailedHealthResponse, OutputFormat

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="data-extract", prog_name="data-extract")
@global_options
def cli() -> None:
    """Submit documents to a data-extract server, watch the jobs and download what they produce.

    The server is --url, else DATA_EXTRACT_URL, else the profile's url, else http://127.0.0.1:8000 (the local
    stack: `data-extract local`). Exit codes: 0 completed, 1 partial, 2 failed, 3 usage or configuration error,
    4 server unreachable.
    """


# ---------------------------------------------------------------------------------------------------- submit


def _parse_option(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"expected KEY=VALUE, got {raw!r}", param_hint="--option")
    return key.strip(), value


def _submit_options(
    preset: str | None,
    output_format: str | None,
    chunk_size: int | None,
    semantic: bool,
    incremental: bool,
    force: bool,
    resume: bool,
    extra: tuple[str, ...],
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for raw in extra:
        key, value = _parse_option(raw)
        if key == "source_files":
            options.setdefault(key, []).append(value)
        else:
            options[key] = value
    named = {"preset": preset, "output_format": output_format, "chunk_size": chunk_size}
    options.update({k: v for k, v in named.items() if v is not None})
    # Flags are sent only when given, so a server that predates one still takes the others.
    for name, on in (
        ("include_semantic", semantic),
        ("incremental", incremental),
        ("force", force),
        ("resume", resume),
    ):
        if on:
            options[name] = True
    return options


@cli.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--preset", help="preset to run with (see `data-extract presets list`)")
@click.option(
    "--format",
    "output_format",
    type=click.Choice([f.value for f in OutputFormat]),
    help="per-file output format (default json)",
)
@click.option("--chunk-size", type=click.IntRange(16, 8192), help="maximum tokens per chunk")
@click.option("--semantic", is_flag=True, help="run the corpus-level semantic analysis when the job ends")
@click.option("--incremental", is_flag=True, help="skip files unchanged since the last run of the same input")
@click.option("--force", is_flag=True, help="with --incremental: reprocess every file")
@click.option(
    "--resume",
    is_flag=True,
    help="continue the newest interrupted run of the same input (-o resume_session=ID for a given one)",
)
@click.option(
    "-o",
    "--option",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="any other submit field of the API, e.g. -o per_chunk=true -o delimiter='---' (repeatable)",
)
@click.option("--idempotency-key", metavar="KEY", help="submitting again with the same key returns the same job")
@click.option(
    "--upload",
    "upload_mode",
    type=click.Choice(["auto", "multipart", "presigned"]),
    default="auto",
    show_default=True,
    help="auto: multipart up to 4 MB in total, presigned S3 uploads above",
)
@click.option("--wait/--no-wait", default=False, help="wait for the job to end, with a live progress bar")
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="when the job ends, download its artifacts into this folder (implies --wait)",
)
@click.option("--timeout", type=click.FloatRange(min=0), help="stop waiting after this many seconds")
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@global_options
def submit(
    paths: tuple[str, ...],
    preset: str | None,
    output_format: str | None,
    chunk_size: int | None,
    semantic: bool,
    incremental: bool,
    force: bool,
    resume: bool,
    extra: tuple[str, ...],
    idempotency_key: str | None,
    upload_mode: UploadMode,  # one of the click.Choice values, which are the UploadMode literals
    wait: bool,
    download_dir: Path | None,
    timeout: float | None,
    poll_interval: float,
) -> int:
    """Submit files and folders (walked recursively) as one job; or one s3:// location inside the server's
    allowed input roots.

    A folder's files keep their paths below the folder's name (docs/a.pdf, docs/notes/b.txt). Without --wait
    the job id is printed and the command returns at once.
    """
    st = state()
    options = _submit_options(preset, output_format, chunk_size, semantic, incremental, force, resume, extra)
    client = st.client()
    remote = [p for p in paths if p.startswith("s3://")]
    if remote:
        if len(paths) != 1:
            raise click.UsageError("an s3:// location is submitted on its own, not with other paths")
        created = client.submit_job({**options, "input_path": remote[0]}, idempotency_key=idempotency_key)
        what = remote[0]
    else:
        try:
            files = collect_files(paths)
        except FileSelectionError as exc:
            raise click.UsageError(str(exc)) from None
        total = sum(f.size for f in files)
        what = f"{len(files)} file(s), {render.human_bytes(total)}"
        ticker = render.Ticker(st.err, f"uploading {len(files)} file(s)", total, enabled=not st.json)
        try:
            created = client.submit_files(
                files,
                options,
                idempotency_key=idempotency_key,
                upload=upload_mode,
                on_upload=ticker.update,
            )
        finally:
            ticker.close()
    if not (wait or download_dir):
        if st.json:
            st.emit_json(created)
        else:
            st.out.print(f"job [bold]{created.job_id}[/] {render.styled(created.status)} ({escape(what)})")
            st.out.print(f"watch it with: data-extract jobs wait {created.job_id}")
        return ExitCode.COMPLETED
    if not st.json:
        st.err.print(f"job [bold]{created.job_id}[/] {render.styled(created.status)} ({escape(what)})")
    return _wait_and_report(created.job_id, poll_interval, timeout, download_dir)


def _wait_and_report(job_id: str, poll_interval: float, timeout: float | None, download_dir: Path | None) -> int:
    st = state()
    client = st.client()
    detail = render.watch_job(client, job_id, st.err, quiet=st.json, poll_interval=poll_interval, timeout=timeout)
    downloaded = _download_all(job_id, download_dir, ()) if download_dir is not None else None
    if st.json:
        st.emit_json(detail if downloaded is None else {"job": detail, "downloads": downloaded})
    else:
        render.job_summary(st.out, detail)
        if downloaded is None:
            st.out.print(f"artifacts: data-extract artifacts {job_id} --download DIR")
    return exit_code_for_status(detail.status)


# ---------------------------------------------------------------------------------------------------- jobs


@cli.group(context_settings=CONTEXT)
@global_options
def jobs() -> None:
    """List, inspect, wait for, retry, cancel and clean up jobs."""


@jobs.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0)
@global_options
def jobs_list(limit: int, offset: int) -> int:
    """Jobs, newest first."""
    st = state()
    found = st.client().list_jobs(limit=limit, offset=offset)
    if st.json:
        st.emit_json(found)
        return ExitCode.COMPLETED
    out = render.table("job", "status", "created", "finished", "input")
    for job in found:
        out.add_row(
            job.job_id,
            render.styled(job.status),
            render.when(job.created_at),
            render.when(job.finished_at),
            escape(job.input_path),
        )
    st.out.print(out if found else "no jobs")
    return ExitCode.COMPLETED


@jobs.command("show")
@click.argument("job_id")
@click.option(
    "--files", "file_limit", type=click.IntRange(1, 5000), default=1000, show_default=True, help="files to fetch"
)
@click.option(
    "--events", "event_limit", type=click.IntRange(1, 5000), default=20, show_default=True, help="events to fetch"
)
@global_options
def jobs_show(job_id: str, file_limit: int, event_limit: int) -> int:
    """A job's state, options, files and events."""
    st = state()
    detail = st.client().get_job(job_id, file_limit=file_limit, event_limit=event_limit)
    if st.json:
        st.emit_json(detail)
        return ExitCode.COMPLETED
    render.key_values(
        st.out,
        [
            ("job", detail.job_id),
            ("status", render.styled(detail.status)),
            ("input", detail.input_path),
            ("format", detail.effective_format),
            ("chunk size", detail.effective_chunk_size),
            ("preset", detail.preset or "-"),
            ("created", render.when(detail.created_at)),
            ("started", render.when(detail.started_at)),
            ("finished", render.when(detail.finished_at)),
            ("session", detail.session_id or "-"),
            ("progress", render.counts_text(detail.progress)),
        ],
    )
    render.job_summary(st.out, detail)
    events = render.table("time", "event", "message", title="events")
    for event in detail.events:
        events.add_row(render.when(event.event_time), event.event_type, escape(event.message))
    st.out.print(events)
    return ExitCode.COMPLETED


@jobs.command("wait")
@click.argument("job_id")
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="then download the artifacts into this folder",
)
@click.option("--timeout", type=click.FloatRange(min=0), help="stop waiting after this many seconds")
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@global_options
def jobs_wait(job_id: str, download_dir: Path | None, timeout: float | None, poll_interval: float) -> int:
    """Wait for a job to end with a live progress bar; the exit code tells how it ended."""
    return _wait_and_report(job_id, poll_interval, timeout, download_dir)


@jobs.command("retry")
@click.argument("job_id")
@click.option("--wait/--no-wait", default=False, help="wait for the retry run to end")
@click.option("--timeout", type=click.FloatRange(min=0))
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@global_options
def jobs_retry(job_id: str, wait: bool, timeout: float | None, poll_interval: float) -> int:
    """Requeue the failed files of a finished job (with its original options)."""
    st = state()
    queued = st.client().retry_failures(job_id)
    if not wait:
        if st.json:
            st.emit_json(queued)
        else:
            st.out.print(f"job [bold]{queued.job_id}[/] {render.styled(queued.status)}: failed files requeued")
        return ExitCode.COMPLETED
    return _wait_and_report(job_id, poll_interval, timeout, None)


@jobs.command("cancel")
@click.argument("job_id")
@global_options
def jobs_cancel(job_id: str) -> int:
    """Cancel a queued or running job: files not yet started are not processed."""
    st = state()
    answer = st.client().cancel_job(job_id)
    if st.json:
        st.emit_json(answer)
    else:
        st.out.print(f"job [bold]{answer.job_id}[/] {render.styled(answer.status)}")
    return ExitCode.COMPLETED


@jobs.command("cleanup")
@click.argument("job_id")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@global_options
def jobs_cleanup(job_id: str, yes: bool) -> int:
    """Delete every artifact of a finished job, for good."""
    st = state()
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("cleanup deletes the job's artifacts for good: pass --yes to confirm")
        click.confirm(f"Delete every artifact of job {job_id}?", abort=True, err=True)
    answer = st.client().cleanup_artifacts(job_id)
    if st.json:
        st.emit_json(answer)
    else:
        st.out.print(f"job [bold]{answer.job_id}[/]: {answer.removed_count} artifact(s) removed")
    return ExitCode.COMPLETED


# ---------------------------------------------------------------------------------------------------- artifacts


def _inside(directory: Path, relative: str) -> Path | None:
    """Where an artifact goes below `directory`; None for a path that would leave it."""
    target = (directory / relative).resolve()
    root = directory.resolve()
    return target if target != root and root in target.parents else None


def _progress_from(ticker: render.Ticker, base: int, total: int) -> Callable[[int, int | None], None]:
    """One artifact's download progress, shown on the ticker of all of them (``base`` bytes came before it)."""

    def update(done: int, _file_total: int | None) -> None:
        ticker.update(base + done, total)

    return update


def _download_all(job_id: str, directory: Path, patterns: tuple[str, ...]) -> list[dict[str, Any]]:
    st = state()
    client = st.client()
    listing = client.list_artifacts(job_id).artifacts
    chosen = [a for a in listing if not patterns or any(fnmatch.fnmatchcase(a.path, p) for p in patterns)]
    if patterns and not chosen:
        raise click.UsageError(f"no artifact of job {job_id} matches {', '.join(patterns)}")
    directory.mkdir(parents=True, exist_ok=True)
    total = sum(a.size_bytes for a in chosen)
    ticker = render.Ticker(st.err, f"downloading {len(chosen)} artifact(s)", total, enabled=not st.json)
    results: list[dict[str, Any]] = []
    done_before = 0
    try:
        for artifact in chosen:
            dest = _inside(directory, artifact.path)
            if dest is None:
                raise click.ClickException(f"refusing artifact path that leaves {directory}: {artifact.path!r}")
            result = client.download_artifact_to(
                job_id,
                artifact.path,
                dest,
                expected_size=artifact.size_bytes,
                on_progress=_progress_from(ticker, done_before, total),
            )
            done_before += artifact.size_bytes
            ticker.update(done_before, total)
            results.append(
                {
                    "path": artifact.path,
                    "file": str(directory / artifact.path),
                    "size_bytes": result.size,
                    "resumed": result.resumed,
                    "skipped": result.skipped,
                }
            )
    finally:
        ticker.close()
    if not st.json:
        out = render.table("artifact", "file", "size", "", title=f"downloaded into {directory}")
        for row in results:
            note = "already there" if row["skipped"] else ("resumed" if row["resumed"] else "")
            out.add_row(escape(row["path"]), escape(row["file"]), render.human_bytes(row["size_bytes"]), note)
        st.out.print(out)
    return results


@cli.command(context_settings=CONTEXT)
@click.argument("job_id")
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="download into this folder (paths kept; an interrupted download resumes)",
)
@click.option(
    "--path",
    "patterns",
    multiple=True,
    metavar="GLOB",
    help="only artifacts whose path matches, e.g. --path 'outputs/*.json' (repeatable)",
)
@global_options
def artifacts(job_id: str, download_dir: Path | None, patterns: tuple[str, ...]) -> int:
    """List a job's artifacts, or download them (large ones come from presigned S3 URLs)."""
    st = state()
    if download_dir is not None:
        results = _download_all(job_id, download_dir, patterns)
        if st.json:
            st.emit_json(results)
        return ExitCode.COMPLETED
    listing = st.client().list_artifacts(job_id)
    chosen = [a for a in listing.artifacts if not patterns or any(fnmatch.fnmatchcase(a.path, p) for p in patterns)]
    if st.json:
        st.emit_json({"job_id": listing.job_id, "artifacts": chosen})
        return ExitCode.COMPLETED
    out = render.table("path", "size", "modified", title=f"artifacts of job {job_id}")
    for artifact in chosen:
        out.add_row(escape(artifact.path), render.human_bytes(artifact.size_bytes), render.when(artifact.modified_at))
    st.out.print(out if chosen else "no artifacts")
    return ExitCode.COMPLETED


# ---------------------------------------------------------------------------------------------------- sessions


@cli.group(context_settings=CONTEXT)
@global_options
def sessions() -> None:
    """Processing runs: a job's first run and each retry run."""


@sessions.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0)
@global_options
def sessions_list(limit: int, offset: int) -> int:
    """Sessions, most recently updated first."""
    st = state()
    found = st.client().list_sessions(limit=limit, offset=offset)
    if st.json:
        st.emit_json(found)
        return ExitCode.COMPLETED
    out = render.table("session", "job", "run", "status", "files", "processed", "failed", "skipped", "updated")
    for s in found:
        out.add_row(
            s.session_id,
            s.job_id,
            str(s.run),
            render.styled(s.status),
            str(s.total_files),
            str(s.processed_count),
            str(s.failed_count),
            str(s.skipped_count),
            render.when(s.updated_at),
        )
    st.out.print(out if found else "no sessions")
    return ExitCode.COMPLETED


@sessions.command("show")
@click.argument("session_id")
@global_options
def sessions_show(session_id: str) -> int:
    """A session's configuration, files and statistics."""
    st = state()
    s = st.client().get_session(session_id)
    if st.json:
        st.emit_json(s)
        return ExitCode.COMPLETED
    render.key_values(
        st.out,
        [
            ("session", s.session_id),
            ("job", s.job_id),
            ("run", s.run),
            ("status", render.styled(s.status)),
            ("source", s.source_directory),
            ("started", render.when(s.started_at)),
            ("updated", render.when(s.updated_at)),
            (
                "files",
                f"{s.total_files} (processed {s.processed_count}, failed {s.failed_count}, "
                f"skipped {s.skipped_count})",
            ),
            *((f"  {k}", v) for k, v in sorted(s.statistics.items())),
        ],
    )
    for title, rows in (("failed", s.failed_files), ("skipped", s.skipped_files)):
        if rows:
            out = render.table("file", "error", title=title)
            for row in rows:
                source = row.get("source_path") or row.get("path") or row.get("file") or "?"
                error = ": ".join(str(row[k]) for k in ("error_type", "error_message") if row.get(k))
                out.add_row(escape(str(source)), escape(error))
            st.out.print(out)
    return ExitCode.COMPLETED


# ---------------------------------------------------------------------------------------------------- presets


@cli.group(context_settings=CONTEXT)
@global_options
def presets() -> None:
    """Built-in presets: what each would run with, and which one jobs get by default."""


@presets.command("list")
@global_options
def presets_list() -> int:
    """The presets, with the one applied by default marked."""
    st = state()
    client = st.client()
    found = client.list_presets()
    current = client.current_preset().preset
    if st.json:
        st.emit_json({"current": current, "presets": found})
        return ExitCode.COMPLETED
    out = render.table("", "preset", "category", "description")
    for p in found:
        out.add_row("*" if p.name == current else "", p.name, p.category, escape(p.description or ""))
    st.out.print(out)
    st.out.print(f"default for new jobs: {current or 'none (built-in defaults)'}")
    return ExitCode.COMPLETED


def _flatten(config: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        rows.extend(_flatten(value, name + ".") if isinstance(value, dict) and value else [(name, value)])
    return rows


def _print_config(title: str, config: dict[str, Any]) -> None:
    out = render.table("setting", "value", title=title)
    for key, value in sorted(_flatten(config)):
        out.add_row(key, escape(str(value)))
    state().out.print(out)


@presets.command("preview")
@click.argument("name", required=False)
@global_options
def presets_preview(name: str | None) -> int:
    """The effective configuration a preset gives; without NAME, the configuration with no preset."""
    st = state()
    client = st.client()
    if name is None:
        config = client.effective_config()
        if st.json:
            st.emit_json(config)
        else:
            _print_config("effective configuration (no preset)", config)
        return ExitCode.COMPLETED
    preview = client.preview_preset(name)
    if st.json:
        st.emit_json(preview)
    else:
        _print_config(f"{preview.preset} ({preview.category}): {preview.description or ''}", preview.effective_config)
    return ExitCode.COMPLETED


@presets.command("apply")
@click.argument("name")
@global_options
def presets_apply(name: str) -> int:
    """Make a preset the default of jobs that name none."""
    st = state()
    applied = st.client().apply_preset(name)
    if st.json:
        st.emit_json(applied)
    else:
        st.out.print(f"preset [bold]{applied.preset}[/] is now the default for new jobs")
    return ExitCode.COMPLETED


# ---------------------------------------------------------------------------------------------------- health


@cli.command(context_settings=CONTEXT)
@click.option("--detailed", is_flag=True, help="queues, storage, extractors and security posture (needs the key)")
@global_options
def health(detailed: bool) -> int:
    """Is the server ready? Exit code 0 ok, 1 degraded, 2 error."""
    st = state()
    client = st.client()
    answer = client.health_detailed() if detailed else client.health()
    code = {"ok": ExitCode.COMPLETED, "degraded": ExitCode.PARTIAL}.get(answer.status, ExitCode.FAILED)
    if st.json:
        st.emit_json(answer)
        return code
    pairs: list[tuple[str, Any]] = [
        ("server", client.api_root),
        ("status", render.styled(answer.status)),
        ("ready", answer.ready),
    ]
    if isinstance(answer, DetailedHealthResponse):
        d = answer
        pairs += [
            ("version", d.version),
            ("work queue", _depth(d.work_queue)),
            ("dead letters", _depth(d.work_dead_letter)),
            ("finalize queue", _depth(d.finalize_queue)),
            ("table / bucket", f"{d.table_reachable} / {d.bucket_reachable}"),
            ("formats", ", ".join(d.extractors.formats)),
            ("ocr", d.extractors.ocr_available),
            ("problems", ", ".join(d.problems) or "none"),
        ]
    render.key_values(st.out, pairs)
    return code


def _depth(queue: Any) -> str:
    if not queue.reachable:
        return "unreachable"
    return f"{queue.visible} visible, {queue.in_flight} in flight, {queue.delayed} delayed"


# ---------------------------------------------------------------------------------------------------- login


@cli.command(context_settings=CONTEXT)
@global_options
def login() -> int:
    """Check an API key against the server and store it (and --url) in the profile.

    The key comes from --api-key, DATA_EXTRACT_API_KEY, or a prompt. It is written to the credentials file
    (mode 0600) of the profile (--profile, default `default`).
    """
    st = state()
    settings = st.settings(new_profile_ok=True)
    key = settings.api_key
    if not key:
        if not sys.stdin.isatty():
            raise click.UsageError("no API key: pass --api-key, set DATA_EXTRACT_API_KEY, or run in a terminal")
        key = getpass.getpass("API key: ").strip()
        if not key:
            raise click.UsageError("no API key given")
    client = st.client(dataclasses.replace(settings, api_key=key))
    status = client.session_status()
    if status.api_key_configured and not status.authenticated:
        raise click.UsageError(f"the server at {client.api_root} refused this API key")
    save_profile(
        settings.profile,
        url=settings.url if settings.url_source != "default" else None,
        api_key=key if status.api_key_configured else None,
    )
    if st.json:
        st.emit_json(
            {
                "profile": settings.profile,
                "url": settings.url,
                "authenticated": status.authenticated,
                "api_key_configured": status.api_key_configured,
            }
        )
    elif status.api_key_configured:
        st.out.print(f"logged in to {settings.url} (profile {settings.profile}); the key is stored for next time")
    else:
        st.out.print(f"{settings.url} has authentication off; no key stored (profile {settings.profile})")
    return ExitCode.COMPLETED


@cli.command(context_settings=CONTEXT)
@global_options
def logout() -> int:
    """Forget the API key stored in the profile."""
    st = state()
    name = st.profile or os.environ.get("DATA_EXTRACT_PROFILE") or "default"
    removed = forget_api_key(name)
    if st.json:
        st.emit_json({"profile": name, "removed": removed})
    else:
        st.out.print(f"profile {name}: stored API key removed" if removed else f"profile {name} holds no API key")
    return ExitCode.COMPLETED

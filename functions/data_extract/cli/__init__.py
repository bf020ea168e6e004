"""The `data-extract` command (installed by the package's [project.scripts]).

Exit codes: 0 completed, 1 partial, 2 failed, 3 usage or configuration error, 4 server unreachable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from data_extract.cli.commands import cli
from data_extract.cli.context import ExitCode, State
from data_extract.cli.local import local
from data_extract.client.config import ConfigError
from data_extract.client.errors import (
    ApiError,
    DataExtractError,
    DownloadIncomplete,
    Overloaded,
    ServerError,
    ServerUnreachable,
    Unauthorized,
    WaitTimedOut,
    describe_detail,
)

cli.add_command(local)

# A gateway that answers for an API it cannot reach says so with these.
_UNREACHABLE_STATUSES = {502, 504}


def _exit_code(exc: DataExtractError) -> ExitCode:
    if isinstance(exc, ServerUnreachable | Overloaded):
        return ExitCode.UNREACHABLE
    if isinstance(exc, ServerError) and exc.status_code in _UNREACHABLE_STATUSES:
        return ExitCode.UNREACHABLE
    if isinstance(exc, Unauthorized):
        return ExitCode.USAGE
    return ExitCode.FAILED


def _hint(exc: DataExtractError) -> str:
    if isinstance(exc, Unauthorized):
        return " (pass --api-key, set DATA_EXTRACT_API_KEY, or run data-extract login)"
    if isinstance(exc, ServerUnreachable):
        return " (is the server running? `data-extract local` starts one on this machine)"
    if isinstance(exc, Overloaded) and exc.retry_after:
        return f" (retry after {exc.retry_after:.0f} s)"
    return ""


def _report(state: State, exc: Exception, code: ExitCode) -> None:
    if state.json:
        body: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc), "exit_code": int(code)}
        if isinstance(exc, ApiError):
            body.update(status_code=exc.status_code, detail=exc.detail)
        if isinstance(exc, WaitTimedOut):
            body["job"] = exc.job.model_dump(mode="json")
        sys.stderr.write(json.dumps(body, ensure_ascii=False) + "\n")
        return
    if isinstance(exc, ApiError):
        message = f"{exc.status_code} from the server: {describe_detail(exc.detail)}"
    else:
        message = str(exc)
    if isinstance(exc, WaitTimedOut):
        message += f"; it goes on on the server: data-extract jobs wait {exc.job_id}"
    if isinstance(exc, DownloadIncomplete):
        message += " (run the same command again to resume)"
    state.err.print(
        f"[red]error:[/] {message}{_hint(exc) if isinstance(exc, DataExtractError) else ''}",
        markup=True,
        highlight=False,
    )


def main(argv: Sequence[str] | None = None, *, state: State | None = None) -> int:
    """Run the command; returns its exit code (the console script exits with it)."""
    state = state or State()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, prog_name="data-extract", standalone_mode=False, obj=state
        )
    except click.exceptions.Abort:
        state.err.print("aborted")
        return 130
    except KeyboardInterrupt:
        state.err.print("interrupted; a submitted job goes on on the server (data-extract jobs list)")
        return 130
    except click.UsageError as exc:
        if state.json:
            _report(state, exc, ExitCode.USAGE)
        else:
            exc.show()
        return ExitCode.USAGE
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except ConfigError as exc:
        _report(state, exc, ExitCode.USAGE)
        return ExitCode.USAGE
    except DataExtractError as exc:
        code = _exit_code(exc)
        _report(state, exc, code)
        return code
    finally:
        state.close()
    return int(result) if isinstance(result, int) else ExitCode.COMPLETED


__all__ = ["ExitCode", "State", "cli", "main"]

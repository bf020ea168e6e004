"""What every command shares: the global options, the client they build, output, and exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import click
from pydantic import BaseModel
from rich.console import Console

from data_extract.client import DataExtractClient
from data_extract.client.config import Resolved, resolve


class ExitCode(IntEnum):
    COMPLETED = 0
    PARTIAL = 1
    FAILED = 2
    USAGE = 3
    UNREACHABLE = 4


def exit_code_for_status(status: str) -> ExitCode:
    """A finished job's exit code: completed 0, partial 1, anything else (failed, cancelled) 2."""
    return {"completed": ExitCode.COMPLETED, "partial": ExitCode.PARTIAL}.get(str(status), ExitCode.FAILED)


ClientFactory = Callable[[Resolved], DataExtractClient]


def default_client_factory(settings: Resolved) -> DataExtractClient:
    return DataExtractClient(settings.url, settings.api_key)


@dataclass
class State:
    """The root context's object: global options as given anywhere on the command line."""

    url: str | None = None
    api_key: str | None = None
    profile: str | None = None
    json: bool = False
    client_factory: ClientFactory = default_client_factory
    _client: DataExtractClient | None = field(default=None, repr=False)

    @property
    def out(self) -> Console:
        # Built on use, so it writes to whatever sys.stdout is now (a pager, a test's capture).
        console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
        if not console.is_terminal and not os.environ.get("COLUMNS"):
            console.width = 240  # piped into grep or a file: rows stay whole instead of folding at 80 columns
        return console

    @property
    def err(self) -> Console:
        return Console(file=sys.stderr, highlight=False)

    def settings(self, *, new_profile_ok: bool = False) -> Resolved:
        return resolve(self.url, self.api_key, self.profile, new_profile_ok=new_profile_ok)

    def client(self, settings: Resolved | None = None) -> DataExtractClient:
        if self._client is None:
            self._client = self.client_factory(settings or self.settings())
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def emit_json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {k: to_jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def state() -> State:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def _store(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value:  # given here: it wins over the same option given earlier (on the group) only when set
            root = ctx.find_root()
            if not isinstance(root.obj, State):
                root.obj = State()
            setattr(root.obj, attribute, value)

    return callback


def global_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--url, --api-key, --profile and --json, accepted on the root command and on every subcommand."""
    options = [
        click.option(
            "--url",
            metavar="URL",
            expose_value=False,
            callback=_store("url"),
            help="server URL, e.g. http://127.0.0.1:8000 or an API Gateway stage URL "
            "[env DATA_EXTRACT_URL; profile 'url']",
        ),
        click.option(
            "--api-key",
            metavar="KEY",
            expose_value=False,
            callback=_store("api_key"),
            help="API key sent as X-API-Key [env DATA_EXTRACT_API_KEY; profile credentials]",
        ),
        click.option(
            "--profile",
            metavar="NAME",
            expose_value=False,
            callback=_store("profile"),
            help="profile of ~/.config/data-extract/config and credentials [env DATA_EXTRACT_PROFILE]",
        ),
        click.option(
            "--json",
            "json_output",
            is_flag=True,
            expose_value=False,
            callback=_store("json"),
            help="print JSON for scripts instead of tables",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command

"""The data-extract command run in process (its own main()) against the real app, with config files of its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.client import api_http, enable_api_key, handler_output_kept_aside, moto_http


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Config and credentials files of this test only; no URL, key or profile from the environment."""
    config, credentials = tmp_path / "cfg" / "config", tmp_path / "cfg" / "credentials"
    monkeypatch.setenv("DATA_EXTRACT_CONFIG_FILE", str(config))
    monkeypatch.setenv("DATA_EXTRACT_CREDENTIALS_FILE", str(credentials))
    for name in ("DATA_EXTRACT_URL", "DATA_EXTRACT_PROFILE", "DATA_EXTRACT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # tables unwrapped, so tests can read them
    return config, credentials


@pytest.fixture
def quietly(aws: dict[str, str]) -> Iterator[Callable[..., Any]]:
    with handler_output_kept_aside() as wrap:
        yield wrap


@pytest.fixture
def run(
    aws: dict[str, str], pump, capsys: pytest.CaptureFixture[str], config_files, quietly
) -> Callable[..., Result]:
    """run(*argv, kind="asgi") -> Result: the command against the app; a job poll first delivers the queues."""
    from data_extract.cli import State, main
    from data_extract.client import DataExtractClient

    seen_urls: list[str] = []

    def invoke(*argv: str, kind: str = "asgi") -> Result:
        _, http = api_http(kind, before_poll=quietly(pump.run))
        storage = moto_http()

        def factory(settings) -> DataExtractClient:
            seen_urls.append(settings.url)
            return DataExtractClient(settings.url, settings.api_key, http_client=http, storage_http_client=storage)

        capsys.readouterr()
        try:
            code = main(list(argv), state=State(client_factory=factory))
        finally:
            http.close()
            storage.close()
        captured = capsys.readouterr()
        return Result(int(code), captured.out, captured.err)

    invoke.seen_urls = seen_urls  # type: ignore[attr-defined]
    return invoke


def make_docs(root: Path, *, failing: bool = True) -> Path:
    """A folder of two text documents (one nested), one unsupported file and, with `failing`, a corrupt JSON file."""
    docs = root / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "alpha.txt").write_text("Alpha report. The first control passed review.\n\nSecond paragraph here.")
    (docs / "notes" / "beta.md").write_text("# Beta\n\nUmlauts: Grüße aus Köln.")
    (docs / "delta.xyz").write_bytes(b"\x00\x01\x02binary blob that is not a document\xff\xfe")
    if failing:
        (docs / "bad.json").write_bytes(b'{"truncated": [1, 2')
    return docs


@pytest.fixture
def keyed(aws: dict[str, str], config_files, monkeypatch: pytest.MonkeyPatch) -> str:
    """Auth on in the app; the key is then taken out of the environment, which the command (in this same process)
    would otherwise read as its own DATA_EXTRACT_API_KEY."""
    from data_extract.api.deps import api_keys

    key = enable_api_key(monkeypatch)
    assert api_keys() == (key,)  # read once: the app keeps it
    monkeypatch.delenv("DATA_EXTRACT_API_KEY")
    return key

"""Small helpers the API and handler tests share."""

from __future__ import annotations

from typing import Any

UTF16_TEXT = "Quarterly audit notes.\nThe controls were tested in October.\n"


def text_files() -> list[tuple[str, tuple[str, bytes, str]]]:
    """Three text files (one UTF-16 with BOM) and one unsupported .xyz file, as multipart parts."""
    return [
        (
            "files",
            ("alpha.txt", b"Alpha report. The first control passed review.\n\nSecond paragraph here.", "text/plain"),
        ),
        ("files", ("notes/beta.md", "# Beta\n\nUmlauts: Grüße aus Köln. Prices in €.".encode(), "text/markdown")),
        ("files", ("gamma.txt", UTF16_TEXT.encode("utf-16"), "text/plain")),
        (
            "files",
            ("delta.xyz", b"\x00\x01\x02binary blob that is not a document\xff\xfe", "application/octet-stream"),
        ),
    ]


def submit_upload(client: Any, files: list | None = None, **fields: Any) -> dict[str, Any]:
    data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
    resp = client.post("/api/v1/jobs/process", files=files or text_files(), data=data)
    assert resp.status_code == 202, resp.text
    return resp.json()


def job(client: Any, job_id: str) -> dict[str, Any]:
    resp = client.get(f"/api/v1/jobs/{job_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()

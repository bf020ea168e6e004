"""OpenAPI descriptions of error responses, so every status code appears in the document."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from data_extract.contract import ErrorResponse

_DESCRIPTIONS = {
    400: "bad input (the message says what)",
    401: "unauthenticated: send X-API-Key or log in for a session cookie",
    404: "unknown resource",
    409: "conflicting state",
    413: "over a size or count limit (the message names it)",
    415: "unsupported content type",
    422: "validation error",
    503: "overloaded; retry after the Retry-After header's seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorResponse, "description": _DESCRIPTIONS[code]}
        if code == 503:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
        out[code] = entry
    return out


def content_disposition(filename: str) -> str:
    """attachment header that survives non-ASCII names (RFC 6266 / RFC 5987)."""
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"

"""Typed errors of the client: one class per kind of answer, each carrying the API's `detail`."""

from __future__ import annotations

from typing import Any

import httpx


class DataExtractError(Exception):
    """Base of every error the client raises."""


class ServerUnreachable(DataExtractError):
    """No HTTP answer: connection refused, DNS failure, timeout, or a gateway that could not reach the API."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


class ApiError(DataExtractError):
    """The API answered with an error status. `detail` is the body's `detail` (a string, or FastAPI's list of
    validation errors), `status_code` the HTTP status."""

    status_code: int = 0

    def __init__(
        self, status_code: int, detail: Any, *, method: str = "", url: str = "", headers: httpx.Headers | None = None
    ) -> None:
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.url = url
        self.headers = headers or httpx.Headers()
        super().__init__(f"{status_code}: {describe_detail(detail)}")


class BadRequest(ApiError):
    """400: the input is wrong; the detail says what."""


class Unauthorized(ApiError):
    """401: no API key, a wrong one, or an expired session."""


class NotFound(ApiError):
    """404: unknown job, session, preset or artifact."""


class Conflict(ApiError):
    """409: the resource's state does not allow it (a running job, nothing to retry, a reused idempotency key)."""


class PayloadTooLarge(ApiError):
    """413: over a size or count limit; the detail names the limit."""


class UnsupportedMediaType(ApiError):
    """415."""


class ValidationFailed(ApiError):
    """422: a field failed validation; `detail` is a list of {loc, msg, type}."""


class Overloaded(ApiError):
    """429 or 503: try again after `retry_after` seconds."""

    @property
    def retry_after(self) -> float | None:
        try:
            return float(self.headers.get("retry-after", ""))
        except ValueError:
            return None


class ServerError(ApiError):
    """5xx other than overload: the API failed; its body never carries internals."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: Overloaded,
    503: Overloaded,
}


def describe_detail(detail: Any) -> str:
    """One readable line for a `detail`: validation lists become 'field: message; ...'."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = [str(p) for p in item.get("loc", []) if p != "body"]
                parts.append(f"{'.'.join(loc)}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def error_for(response: httpx.Response) -> ApiError:
    """The typed error for an error response (the body read already)."""
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text.strip() or response.reason_phrase
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(
        status, detail, method=response.request.method, url=str(response.request.url), headers=response.headers
    )


class DownloadIncomplete(DataExtractError):
    """A download ended short of its announced size; the bytes received stay in `<file>.part` for a resume."""


class WaitTimedOut(DataExtractError):
    """The job had not ended when the wait's timeout passed; `job` is its last state."""

    def __init__(self, job_id: str, seconds: float, job: Any) -> None:
        super().__init__(f"job {job_id} still {getattr(job, 'status', '?')} after {seconds:g} s")
        self.job_id = job_id
        self.job = job

"""Domain errors raised by the job layer; routers map them to HTTP statuses."""

from __future__ import annotations

from typing import Any


class JobError(Exception):
    status_code = 400

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail  # a message, or a list of validation errors (422)


class BadRequest(JobError):
    status_code = 400


class NotFound(JobError):
    status_code = 404


class Conflict(JobError):
    status_code = 409


class PayloadTooLarge(JobError):
    status_code = 413


class Unprocessable(JobError):
    status_code = 422


class UnsupportedMediaType(JobError):
    status_code = 415


class Overloaded(JobError):
    status_code = 503

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

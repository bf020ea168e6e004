"""Completion notices: a job that ends is announced on EventBridge and, if it named a ``callback_url``, POSTed there.

Finalize queues one notice per ended run on the notice queue (never from an API request); the notifier function
takes it from there:

- the first attempt puts the notice on the event bus as a "Job Finished" event;
- the callback gets a JSON POST signed like Standard Webhooks / Svix: ``webhook-id`` (the notice id, the same on
  every retry, so receivers can drop duplicates), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
  (``v1,`` + base64 HMAC-SHA256 over ``{id}.{timestamp}.{body}``, keyed with the secret from Secrets Manager);
- the URL is checked before every attempt: https, an allowed host, and (resolved here, not by the HTTP client)
  no loopback, private, link-local or otherwise non-public address; the connection goes to the address that was
  checked, so a DNS answer that changes between check and connect cannot redirect it;
- a failed attempt is retried with exponential backoff (a delayed message), a bounded number of times; every
  attempt is a job event, ``callback_delivered`` or ``callback_failed`` with the HTTP status.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from data_extract import __version__
from data_extract.jobs import records
from data_extract.jobs.records import Notice
from data_extract.settings import Settings
from data_extract.store import Store, publish_event

logger = logging.getLogger(__name__)

EVENT_SOURCE = "data-extract"
EVENT_DETAIL_TYPE = "Job Finished"
NOTICE_TYPE = "job.finished"
_MAX_RESPONSE_BYTES = 64 * 1024


class CallbackRefused(ValueError):
    """The callback URL may not be called (scheme, host, allow-list or address); the message says why."""


class CallbackUnresolved(OSError):
    """The callback host did not resolve (now): an attempt that failed, retried like a refused connection."""


# ---------------------------------------------------------------- the notice


def build_notice(
    job: Mapping[str, Any], run: int, status: str, counts: dict[str, int], finished_at: str, result_path: str | None
) -> dict[str, Any]:
    """The notice body (a ``Notice``): the same for the callback and the EventBridge event, and on every retry
    (``job``: the run's ``JobRecord``). Finalize adds it to the job's fields, a plain dict of mixed values."""
    return {
        "id": f"notice_{job['job_id']}_{run}",
        "type": NOTICE_TYPE,
        "job_id": job["job_id"],
        "run": run,
        "status": status,
        "processed_count": int(counts.get("processed", 0)),
        "failed_count": int(counts.get("failed", 0)),
        "skipped_count": int(counts.get("skipped", 0)),
        "finished_at": finished_at,
        "result_path": result_path,
    }


def queue_notice(store: Store, job_id: str, run: int, notice: Mapping[str, Any]) -> None:
    """Hand the notice to the notifier. Raises if SQS refuses: the finalize message is then redelivered, and its
    duplicate run sends the notice that is still pending (see ``resend_pending_notice``)."""
    if not store.queues.notify_url:
        logger.warning("no notice queue configured; job-finished notice not sent", extra={"job_id": job_id})
        return
    store.queues.send_notice({"notice": notice, "attempt": 1})
    store.table.mark_notice_queued(job_id, run)


def resend_pending_notice(store: Store, job_id: str, run: int) -> bool:
    job = records.job(store, job_id)
    if job is None or job.get("notice_state") != "pending" or int(job.get("current_run", 0)) != run:
        return False
    notice = job.get("notice")
    if notice is None:
        return False
    queue_notice(store, job_id, run, notice)
    return True


# ---------------------------------------------------------------- the callback URL


@dataclass(frozen=True)
class CallbackTarget:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line


def check_callback_url(url: str, settings: Settings) -> CallbackTarget:
    """Static checks (no DNS): what submit refuses with 400 and the notifier re-checks before each attempt."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused(f"callback_url is not a valid URL: {exc}") from None
    allowed_schemes = ("https", "http") if settings.callback_local_mode else ("https",)
    if parts.scheme not in allowed_schemes:
        raise CallbackRefused(
            f"callback_url must use {' or '.join(allowed_schemes)}, not '{parts.scheme or '(none)'}'"
        )
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise CallbackRefused("callback_url has no host")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("callback_url must not carry credentials (user:password@)")
    if any(ch in url for ch in "\r\n\t "):
        raise CallbackRefused("callback_url must not contain whitespace or line breaks")
    hosts = settings.callback_hosts
    if hosts and not any(host == h or (h.startswith(".") and host.endswith(h)) for h in hosts):
        raise CallbackRefused(f"callback_url host '{host}' is not in the allowed callback hosts")
    literal = _ip_literal(host)
    if literal is not None and not settings.callback_local_mode and not _is_public(literal):
        raise CallbackRefused(f"callback_url names a non-public address ({literal})")
    if (host == "localhost" or host.endswith(".localhost")) and not settings.callback_local_mode:
        raise CallbackRefused("callback_url names localhost")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    # is_global is False for loopback, private, link-local (169.254/16 and fe80::/10, the metadata service),
    # shared (100.64/10), reserved, unspecified and documentation ranges.
    return address.is_global and not address.is_multicast


def resolve_callback(target: CallbackTarget, settings: Settings) -> str:
    """The address to connect to: every address the name resolves to must be public (outside local mode)."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CallbackUnresolved(f"callback host '{target.host}' does not resolve: {exc.strerror}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise CallbackUnresolved(f"callback host '{target.host}' does not resolve")
    if not settings.callback_local_mode:
        refused = sorted({a for a in addresses if not _is_public(ipaddress.ip_address(a.split("%")[0]))})
        if refused:
            raise CallbackRefused(
                f"callback host '{target.host}' resolves to a non-public address ({', '.join(refused)})"
            )
    return addresses[0]


# ---------------------------------------------------------------- signing and sending


def signing_key(secret: str) -> bytes:
    """A Standard Webhooks secret (``whsec_`` + base64) gives its decoded bytes; any other string its UTF-8."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode("utf-8")


def sign(key: bytes, notice_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{notice_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def signed_headers(key: bytes, notice_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": f"data-extract-notifier/{__version__}",
        "webhook-id": notice_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, notice_id, timestamp, body),
    }


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with SNI and certificate verification against the URL's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post(target: CallbackTarget, address: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST once; returns the HTTP status. Redirects are not followed (a 3xx counts as a failed attempt)."""
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target.host, target.port, address, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(_MAX_RESPONSE_BYTES)
        return response.status
    finally:
        connection.close()


# ---------------------------------------------------------------- one delivery attempt (the notifier's work)


@dataclass(frozen=True)
class NoticeMessage:
    notice: Notice
    attempt: int

    @classmethod
    def parse(cls, body: str) -> NoticeMessage:
        data = json.loads(body)
        notice = data["notice"]
        if not isinstance(notice, dict) or not notice.get("job_id") or not notice.get("id"):
            raise ValueError("notice without job_id or id")
        # Queued by ``queue_notice`` (or a retry of it): a Notice as ``build_notice`` made it.
        return cls(cast(Notice, notice), int(data.get("attempt", 1)))


def retry_delay_seconds(settings: Settings, attempt: int) -> int:
    """Before attempt ``attempt + 1``: the base delay doubled per attempt made, at most SQS's 900 s."""
    return min(900, settings.callback_backoff_seconds * (1 << max(0, attempt - 1)))


def deliver(
    store: Store,
    settings: Settings,
    msg: NoticeMessage,
    secret: Callable[[], str | None],
    clock: Callable[[], float] = time.time,
) -> str:
    """One attempt. Returns published | delivered | retrying | gave_up | refused (no callback_url: published).

    ``secret`` is called only when a callback is sent (jobs without one never need Secrets Manager). Raises only
    when AWS refuses (EventBridge, DynamoDB, SQS, Secrets Manager): the record fails and SQS delivers it again.
    """
    notice, attempt = msg.notice, msg.attempt
    job_id = notice["job_id"]
    if attempt == 1 and settings.event_bus_name:
        publish_event(settings.event_bus_name, EVENT_SOURCE, EVENT_DETAIL_TYPE, notice)
    job = records.job(store, job_id)
    url = job.get("callback_url") if job else None
    if not url:
        return "published"
    base = {"attempt": attempt, "notice_id": notice["id"], "run": notice["run"]}
    try:
        target = check_callback_url(url, settings)
        address = _address_or_none(target, settings)
    except CallbackRefused as exc:
        store.table.add_event(
            job_id,
            "callback_failed",
            f"Callback not sent: {exc}",
            {**base, "status": None, "error": "refused", "will_retry": False},
        )
        return "refused"
    key = secret()
    if not key:
        raise RuntimeError("no callback signing secret is configured (DATA_EXTRACT_CALLBACK_SECRET_ID)")
    body = json.dumps(notice, separators=(",", ":"), sort_keys=True).encode()
    headers = signed_headers(signing_key(key), notice["id"], int(clock()), body)
    status, error = _attempt(target, address, body, headers, settings.callback_timeout_seconds)
    payload = {**base, "status": status, "host": target.host}
    if status is not None and 200 <= status < 300:
        store.table.add_event(job_id, "callback_delivered", f"Callback delivered (HTTP {status})", payload)
        return "delivered"
    return _after_failure(store, settings, msg, payload, f"HTTP {status}" if status is not None else error)


def _address_or_none(target: CallbackTarget, settings: Settings) -> str | None:
    """The checked address to connect to; None when the host does not resolve now (a failed attempt, retried)."""
    try:
        return resolve_callback(target, settings)
    except CallbackUnresolved:
        return None


def _attempt(
    target: CallbackTarget, address: str | None, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str | None]:
    """POST once: (HTTP status, None), or (None, the kind of error that kept it from getting an answer)."""
    try:
        if address is None:
            raise CallbackUnresolved(target.host)
        return post(target, address, body, headers, timeout), None
    except (OSError, http.client.HTTPException) as exc:  # unresolved, refused, reset, timed out, TLS failure
        return None, type(exc).__name__


def _after_failure(
    store: Store, settings: Settings, msg: NoticeMessage, payload: dict[str, Any], what: str | None
) -> str:
    """Record a failed attempt, and queue the next one while attempts are left: 'retrying' or 'gave_up'."""
    attempt = msg.attempt
    will_retry = attempt < settings.callback_max_attempts
    delay = retry_delay_seconds(settings, attempt) if will_retry else None
    error = None if payload["status"] is not None else what
    store.table.add_event(
        msg.notice["job_id"],
        "callback_failed",
        f"Callback attempt {attempt} failed ({what})" + (f"; retrying in {delay} s" if will_retry else "; giving up"),
        {**payload, "error": error, "will_retry": will_retry, "retry_in_seconds": delay},
    )
    if not will_retry:
        return "gave_up"
    store.queues.send_notice({"notice": msg.notice, "attempt": attempt + 1}, delay_seconds=delay or 0)
    return "retrying"

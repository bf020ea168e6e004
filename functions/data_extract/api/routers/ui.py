"""The operator page: one HTML document at "/" and its static modules under "/ui/" (shipped in the package).

The files are read once per container and answered from memory with an ETag, so serving them costs a dict lookup.
The page calls the API with URLs relative to its own address; a <base> element names that address, which behind an
API Gateway named stage ("/prod/") is not the path the app sees ("/").
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from data_extract.settings import get_settings

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_BASE_MARKER = "<!--base-->"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# A stage or base-path mapping: plain path segments, nothing a browser could read as another origin ("//host").
_SAFE_PREFIX = re.compile(r"^(/[A-Za-z0-9_~-][A-Za-z0-9_.~-]*)*$")


def content_security_policy() -> str:
    """Everything from this origin, nothing from anywhere else (no CDN); fetches may also reach the bucket, for
    presigned uploads and for downloads that redirect to presigned URLs. Inline styles stay allowed for the
    sandboxed frame that shows a stored HTML report (it inherits this policy); scripts never run there."""
    settings = get_settings()
    bucket, region = settings.bucket_name, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "")
    storage = [f"https://{bucket}.s3.amazonaws.com", "https://s3.amazonaws.com"]
    if region:
        storage += [f"https://{bucket}.s3.{region}.amazonaws.com", f"https://s3.{region}.amazonaws.com"]
    if settings.aws_endpoint_url:  # the local stack's moto server
        endpoint = urlsplit(settings.aws_endpoint_url)
        storage.append(f"{endpoint.scheme}://{endpoint.netloc}")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"connect-src 'self' {' '.join(storage)}; frame-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


_PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


@lru_cache(maxsize=1)
def static_files() -> dict[str, StaticFile]:
    """Every shipped asset by name, read on first use (not at import: the API's cold start stays as it was)."""
    files: dict[str, StaticFile] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        media_type = _MEDIA_TYPES.get(path.suffix)
        if path.is_file() and media_type:
            body = path.read_bytes()
            files[path.name] = StaticFile(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return files


def public_prefix(request: Request) -> str:
    """The path in front of the app's own paths as the browser sees it: "" at the root, "/prod" behind a stage.

    Lambda: the difference between the path API Gateway received (v2 rawPath, v1 requestContext.path) and the
    path the app routes on. ASGI servers: the scope's root_path.
    """
    event = request.scope.get("aws.event")
    prefix = request.scope.get("root_path", "")
    if isinstance(event, dict):
        seen = event.get("rawPath") if event.get("version") == "2.0" else event.get("requestContext", {}).get("path")
        routed = request.url.path.rstrip("/")
        if isinstance(seen, str):
            seen = seen.rstrip("/")
            prefix = seen[: len(seen) - len(routed)] if seen.endswith(routed) else ""
    prefix = prefix.rstrip("/")
    return prefix if _SAFE_PREFIX.match(prefix) else ""


def _not_modified(request: Request, etag: str) -> bool:
    return etag in (request.headers.get("if-none-match") or "")


@router.get("/")
def page(request: Request) -> Response:
    index = static_files()["index.html"]
    base = f'<base href="{html.escape(public_prefix(request) + "/", quote=True)}">'
    body = index.body.decode("utf-8").replace(_BASE_MARKER, base, 1).encode("utf-8")
    # The body depends on the prefix, so the ETag does too.
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {**_PAGE_HEADERS, "Content-Security-Policy": content_security_policy(), "ETag": etag}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=index.media_type, headers=headers)


@router.get("/ui/{name}")
def asset(name: str, request: Request) -> Response:
    found = static_files().get(name)
    if found is None or name == "index.html":
        return Response('{"detail":"Not Found"}', status_code=404, media_type="application/json")
    headers = {"ETag": found.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if _not_modified(request, found.etag):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)

"""boto3 clients, created once per process (warm Lambda invocations reuse them)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from data_extract.settings import get_settings

_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)
# Presigned URLs must be SigV4 (required in newer regions and for KMS-encrypted objects).
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))


@cache
def client(service: str) -> Any:
    settings = get_settings()
    kwargs: dict[str, Any] = {"config": _S3_CONFIG if service == "s3" else _CONFIG}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
        if service == "s3":
            # A local endpoint (moto server on 127.0.0.1) cannot resolve bucket subdomains.
            kwargs["config"] = _CONFIG.merge(Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    return boto3.session.Session().client(service, **kwargs)


@cache
def resource(service: str) -> Any:
    settings = get_settings()
    kwargs: dict[str, Any] = {"config": _CONFIG}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return boto3.session.Session().resource(service, **kwargs)


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
    resource.cache_clear()

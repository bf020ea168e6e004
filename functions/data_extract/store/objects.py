"""S3 access: inputs, artifacts and records in one bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from data_extract.store.clients import client


class ObjectNotFound(Exception):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    etag: str = ""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/key' -> (bucket, key)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"missing bucket in {uri}")
    return bucket, key


class ObjectStore:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._s3 = client("s3")

    # -- writes --
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_json(self, key: str, payload: Any) -> bytes:
        body = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")
        self.put_bytes(key, body, "application/json")
        return body

    def copy(self, src_bucket: str, src_key: str, dest_key: str) -> None:
        self._s3.copy({"Bucket": src_bucket, "Key": src_key}, self.bucket, dest_key)

    def delete_prefix(self, prefix: str) -> int:
        removed = 0
        batch: list[dict[str, str]] = []
        for info in self.list(prefix):
            batch.append({"Key": info.key})
            if len(batch) == 1000:
                removed += self._delete_batch(batch)
                batch = []
        if batch:
            removed += self._delete_batch(batch)
        return removed

    def _delete_batch(self, batch: list[dict[str, str]]) -> int:
        resp = self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        errors = resp.get("Errors") or []
        if errors:
            raise RuntimeError(f"could not delete {len(errors)} objects, first: {errors[0].get('Key')}")
        return len(batch)

    # -- reads --
    def get_bytes(self, key: str, bucket: str | None = None) -> bytes:
        try:
            body: bytes = self._s3.get_object(Bucket=bucket or self.bucket, Key=key)["Body"].read()
            return body
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFound(key) from None
            raise

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def head(self, key: str, bucket: str | None = None) -> ObjectInfo:
        try:
            resp = self._s3.head_object(Bucket=bucket or self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFound(key) from None
            raise
        return ObjectInfo(key, resp["ContentLength"], resp["LastModified"], resp.get("ETag", "").strip('"'))

    def list(self, prefix: str, bucket: str | None = None) -> Iterator[ObjectInfo]:
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket or self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"], item["Size"], item["LastModified"], item.get("ETag", "").strip('"'))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                raise ObjectNotFound(f"bucket {bucket or self.bucket}") from None
            raise

    def reachable(self) -> bool:
        try:
            self._s3.head_bucket(Bucket=self.bucket)
            return True
        except Exception:
            return False

    # -- presigned URLs --
    def presign_get(self, key: str, expires_in: int, content_disposition: str, content_type: str) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )
        return url

    def presign_put(self, key: str, expires_in: int, content_type: str, content_length: int) -> str:
        """A PUT URL for exactly ``content_length`` bytes: SigV4 signs the Content-Length header with the URL,
        so S3 refuses a body of any other size."""
        url: str = self._s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": content_length},
            ExpiresIn=expires_in,
        )
        return url

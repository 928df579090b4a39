"""Storage in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, OSS), through boto3.

``IMAGESCOPE_STORAGE_URL=s3://BUCKET/PREFIX`` puts results under ``PREFIX/files/`` and the
SDK's uploads under ``PREFIX/uploads/``, the layout of the data directory, so that API and
worker processes on many machines share them and none keeps a file on its own disk.
``IMAGESCOPE_S3_ENDPOINT_URL`` names a store other than AWS (path-style addressing, which
every S3-compatible store answers); credentials come from the standard AWS chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).

Result URLs are presigned GETs of the bucket, as the hosted service hands out signed OSS
URLs; with ``IMAGESCOPE_S3_SERVE_THROUGH_API`` the API serves them at its own signed
``/files`` URLs instead, for buckets clients cannot reach.

Faults map as on local disk: whatever the store or the network answers besides "no such
key" (unreachable, timed out, access denied, no such bucket, slow down) raises
``StorageUnavailable``, the service's trouble that a task waits out in the queue.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from imagescope.config import Settings, variable
from imagescope.storage.base import StorageSetupError, Stores
from imagescope.storage.local import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef, ObjectTypeDef

log = logging.getLogger(__name__)

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4's longest: a URL valid longer would be refused by the store
DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
KEY_REFUSED = frozenset({"KeyTooLongError", "InvalidObjectName"})  # the key's fault, not the store's


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Storage:
    """Keys under ``prefix`` in ``bucket``; the interface of :class:`~imagescope.storage.base.Storage`."""

    def __init__(self, client: S3Client, bucket: str, prefix: str, presign: bool = True):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix  # empty or ending in "/"
        self.presign = presign

    def _name(self, key: str) -> str:
        """The object name of ``key``. ``..`` climbs nothing in a bucket, but a key that would
        on disk names nothing here either: the two backends refuse the same keys."""
        if any(segment in ("", ".", "..") for segment in key.split("/")):
            raise ValueError(f"not a storage key: {key!r}")
        return self.prefix + key

    def _fault(self, doing: str, exc: Exception) -> Exception:
        if isinstance(exc, ParamValidationError) or (isinstance(exc, ClientError) and _error_code(exc) in KEY_REFUSED):
            return ValueError(f"{doing}: {exc}")
        return StorageUnavailable(f"{doing} in s3://{self.bucket}/{self.prefix}: {exc}")

    def save(self, key: str, data: bytes) -> None:
        name = self._name(key)
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        try:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:  # a PUT is whole or absent: nothing to clean up
            raise self._fault(f"cannot write {key}", exc) from exc

    def read(self, key: str) -> bytes | None:
        name = self._name(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
            try:
                return body.read()
            finally:
                body.close()
        except ClientError as exc:
            if _error_code(exc) in NOT_FOUND:
                return None
            raise self._fault(f"cannot read {key}", exc) from exc
        except BotoCoreError as exc:
            raise self._fault(f"cannot read {key}", exc) from exc

    def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _error_code(exc) in NOT_FOUND:
                return False
            raise self._fault(f"cannot look up {key}", exc) from exc
        except BotoCoreError as exc:
            raise self._fault(f"cannot look up {key}", exc) from exc
        return True

    def probe(self) -> None:
        name = f"{self.prefix}.probe-{os.getpid()}-{threading.get_ident()}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=b"probe")
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"cannot write in s3://{self.bucket}/{self.prefix}: {exc}") from exc

    def _delete_where(self, prefix: str, doomed: Callable[[ObjectTypeDef], bool]) -> int:
        """Delete the objects under ``prefix`` that ``doomed`` picks; returns how many."""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            names = [o["Key"] for page in pages for o in page.get("Contents", []) if doomed(o)]
            for start in range(0, len(names), DELETE_BATCH):
                batch: list[ObjectIdentifierTypeDef] = [{"Key": name} for name in names[start : start + DELETE_BATCH]]
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                if errors := answer.get("Errors"):  # refused one by one, in a 200 answer
                    raise StorageUnavailable(f"cannot delete {len(errors)} objects: {errors[0].get('Code')}")
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"cannot delete under s3://{self.bucket}/{self.prefix}{prefix}: {exc}") from exc
        return len(names)

    def delete_task(self, task_id: str) -> None:
        self._name(task_id)  # a task id names one directory, as on disk
        try:
            self._delete_where(task_id + "/", lambda _: True)
        except StorageUnavailable as exc:  # as rmtree(ignore_errors=True) on disk; logged, for the operator
            log.warning("could not delete the objects of task %s: %s", task_id, exc)

    def discard_outputs(self, task_id: str, keep: str = "inputs") -> None:
        kept = f"{self.prefix}{task_id}/{keep}/"
        with suppress(StorageUnavailable):  # what stays is overwritten by the next run, or purged
            self._delete_where(task_id + "/", lambda o: not o["Key"].startswith(kept))

    def sweep_temporary(self, older_than: float) -> int:
        return 0  # a PUT leaves nothing half-written behind

    def delete_older(self, prefix: str, older_than: float) -> int:
        return self._delete_where(prefix, lambda o: o["LastModified"].timestamp() < older_than)

    def presigned_url(self, key: str, expires: int) -> str | None:
        if not self.presign:
            return None
        # The signature counts from now: the URL ends when the task's own would, within SigV4's week.
        lifetime = min(max(int(expires - time.time()), 1), MAX_PRESIGN_S)
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._name(key)}, ExpiresIn=lifetime
        )


def s3_client(endpoint_url: str) -> S3Client:
    """A client for AWS (no endpoint) or any S3-compatible store; short timeouts and few
    retries, so that an unreachable store is a fault in seconds, not minutes."""
    config = Config(
        signature_version="s3v4",
        connect_timeout=5,
        read_timeout=30,
        retries={"mode": "standard", "max_attempts": 3},
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=config)


def open_bucket(settings: Settings) -> Stores:
    """The stores of ``IMAGESCOPE_STORAGE_URL``, after checking that its bucket can be reached."""
    bucket, prefix = settings.s3_location
    where = settings.s3_endpoint_url or "AWS"
    client = s3_client(settings.s3_endpoint_url)
    name = variable("storage_url")
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = _error_code(exc)
        if code in NOT_FOUND or code == "NoSuchBucket":
            raise StorageSetupError(f"{name}: bucket {bucket!r} does not exist at {where}") from None
        if code in ("403", "AccessDenied"):
            raise StorageSetupError(
                f"{name}: access to bucket {bucket!r} at {where} denied (AWS credentials)"
            ) from None
        raise StorageSetupError(f"{name}: bucket {bucket!r} at {where}: {code or exc}") from None
    except BotoCoreError as exc:
        raise StorageSetupError(f"{name}: cannot reach bucket {bucket!r} at {where}: {exc}") from None
    presign = not settings.s3_serve_through_api
    return Stores(
        results=S3Storage(client, bucket, prefix + "files/", presign),
        uploads=S3Storage(client, bucket, prefix + "uploads/", presign=False),
    )

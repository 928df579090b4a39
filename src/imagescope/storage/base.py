"""What every storage backend does, and which one a deployment gets.

Two backends satisfy :class:`Storage`: ``LocalStorage`` (files under the data directory, the
embedded default) and ``S3Storage`` (objects in an S3-compatible bucket, for API and worker
processes on many machines). Callers see keys only (``{task_id}/0.png``,
``imagescope/{account}/{dir}/{name}``), never paths or object names, so the task pipeline, the
upload flow and the purge run unchanged on either.

Both raise ``StorageUnavailable`` for the store's own trouble (a full disk, an unreachable
endpoint, a denied write) and ``ValueError`` for a key that cannot name anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from imagescope.config import Settings
from imagescope.storage.local import LocalStorage


class StorageSetupError(Exception):
    """The configured store cannot be used at start; the message names the variable, on one line."""


class Storage(Protocol):
    def save(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there; readers never see half of it."""

    def read(self, key: str) -> bytes | None:
        """The bytes stored under ``key``; None if there are none."""

    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""

    def probe(self) -> None:
        """Write and remove something small; raises StorageUnavailable while that fails."""

    def delete_task(self, task_id: str) -> None:
        """Remove everything stored under the task (its inputs and results); what cannot be
        removed now is left, never raised."""

    def discard_outputs(self, task_id: str, keep: str = "inputs") -> None:
        """Remove what a run of the task wrote, except its kept ``inputs/``: it will run again."""

    def sweep_temporary(self, older_than: float) -> int:
        """Remove temporary leftovers of a process that stopped mid-write; returns how many."""

    def delete_older(self, prefix: str, older_than: float) -> int:
        """Remove what was stored under ``prefix`` before ``older_than`` (Unix seconds); returns how many."""

    def presigned_url(self, key: str, expires: int) -> str | None:
        """A URL the store itself serves ``key`` from until ``expires`` (Unix seconds); None
        when the API serves it instead (local disk, or a bucket clients cannot reach)."""


@dataclass(frozen=True)
class Stores:
    results: Storage  # task inputs and result images, under task ids
    uploads: Storage  # the SDK's uploads, under imagescope/{account}/


def open_storage(settings: Settings) -> Stores:
    """The deployment's stores: the bucket of ``IMAGESCOPE_STORAGE_URL``, else the data directory.

    A bucket that does not exist or cannot be reached stops the start (``StorageSetupError``)."""
    if not settings.storage_url:
        return Stores(LocalStorage(settings.files_dir), LocalStorage(settings.data_dir / "uploads"))
    from imagescope.storage.s3 import open_bucket  # boto3 and its client only where a bucket is used

    return open_bucket(settings)

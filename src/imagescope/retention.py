"""Background upkeep of the task store.

- Retention: after the task lifetime (24 h by default) a task and its files are purged.
- Leases: this process renews the leases of the tasks it runs, and hands tasks whose
  lease ran out (their process died) back to the queue.
"""

from __future__ import annotations

import logging
import threading
import time

from .storage import LocalStorage
from .taskstore import TaskStore
from .uploads import UPLOAD_TTL_S, Uploads

log = logging.getLogger(__name__)


class Purger:
    def __init__(
        self, store: TaskStore, storage: LocalStorage, ttl_s: float, interval_s: float, uploads: Uploads | None = None
    ):
        self.uploads = uploads
        self.store = store
        self.storage = storage
        self.ttl_s = ttl_s
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def purge_once(self) -> list[str]:
        ids = self.store.purge(older_than=time.time() - self.ttl_s)
        for task_id in ids:
            self.storage.delete_task(task_id)
        if ids:
            log.info("purged %d expired tasks", len(ids))
        if self.uploads is not None:
            self.uploads.purge(time.time() - UPLOAD_TTL_S)
        return ids

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="imagescope-purger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.purge_once()
            except Exception:
                log.exception("purge failed")


class LeaseKeeper:
    """Every ``lease_s / 3``: renew this process's leases, recover expired ones."""

    def __init__(self, store: TaskStore, owner: str, lease_s: float, max_attempts: int):
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> tuple[list[str], list[str]]:
        self.store.renew(self.owner, self.lease_s)
        requeued, failed = self.store.recover_expired(self.max_attempts)
        if requeued or failed:
            log.warning(
                "tasks of a stopped process: %d queued again, %d failed after their last attempt",
                len(requeued), len(failed),
            )
        return requeued, failed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="imagescope-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.tick()
            except Exception:
                log.exception("lease upkeep failed")

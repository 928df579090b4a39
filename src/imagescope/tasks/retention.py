"""Background upkeep of the task store.

- Retention: after the task lifetime (24 h by default) a task and its files (or objects, on
  S3) are purged, uploads after 48 h, and temporary files of a process that stopped mid-write
  are swept.
- Leases: this process renews the leases of the tasks it runs, and hands tasks whose
  lease ran out (their process died) back to the queue.
"""

from __future__ import annotations

import logging
import threading
import time

from imagescope.storage.base import Storage
from imagescope.storage.uploads import UPLOAD_TTL_S, Uploads
from imagescope.tasks.store import TaskStore

log = logging.getLogger(__name__)

# A save writes ``*.tmp`` and renames it within milliseconds; one this old was left by a process
# that stopped in between (a failed save removes its own). The sweep walks every file: hourly.
STALE_TEMPORARY_S = 600.0
SWEEP_INTERVAL_S = 3600.0


class Periodic:
    """A daemon thread calling ``tick()`` every ``interval_s`` until stopped."""

    thread_name = "imagescope-periodic"

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:
                log.exception("%s failed", self.thread_name)


class Purger(Periodic):
    thread_name = "imagescope-purger"

    def __init__(
        self, store: TaskStore, storage: Storage, ttl_s: float, interval_s: float, uploads: Uploads | None = None
    ):
        super().__init__(interval_s)
        self.uploads = uploads
        self.store = store
        self.storage = storage
        self.ttl_s = ttl_s
        self._swept = 0.0  # the first tick sweeps

    def purge_once(self) -> list[str]:
        ids = self.store.purge(older_than=time.time() - self.ttl_s)
        for task_id in ids:
            self.storage.delete_task(task_id)
        if ids:
            log.info("purged %d expired tasks", len(ids))
        if time.time() - self._swept >= SWEEP_INTERVAL_S:
            self._swept = time.time()
            if swept := self.storage.sweep_temporary(older_than=time.time() - STALE_TEMPORARY_S):
                log.info("removed %d stale temporary files", swept)
        if self.uploads is not None:
            self.uploads.purge(time.time() - UPLOAD_TTL_S)
        return ids

    tick = purge_once


class LeaseKeeper(Periodic):
    """Every ``lease_s / 3``: renew this process's leases, recover expired ones."""

    thread_name = "imagescope-leases"

    def __init__(self, store: TaskStore, owner: str, lease_s: float, max_attempts: int):
        super().__init__(lease_s / 3)
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self.max_attempts = max_attempts

    def tick(self) -> tuple[list[str], list[str]]:
        self.store.renew(self.owner, self.lease_s)
        requeued, failed = self.store.recover_expired(self.max_attempts)
        if requeued or failed:
            log.warning(
                "tasks of a stopped process: %d queued again, %d failed after their last attempt",
                len(requeued),
                len(failed),
            )
        return requeued, failed

"""Dispatch: handing accepted tasks to workers.

``Dispatcher`` is the seam: the embedded default runs workers as threads of the API
process; a Celery dispatcher can implement the same three methods to run them elsewhere.
The task store, not the queue, is the source of truth, so a lost queue loses nothing:
on start every PENDING task is queued again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def start(self) -> None: ...

    def submit(self, task_id: str) -> None:
        """A task was accepted: wake a worker."""

    def stop(self) -> None: ...


class InProcessDispatcher:
    """A fixed pool of worker threads that claim tasks from the task store.

    Claiming from the store (not from an in-memory queue) keeps the concurrency
    limits exact across processes and means a restart loses nothing: PENDING tasks
    are simply claimed again. ``concurrency=0`` runs no workers: the process accepts
    and serves tasks that workers elsewhere run (an API-only node).

    ``submit`` wakes the idle threads: called in-process when a task is accepted here, and on
    PostgreSQL by the NOTIFY listener (notify.py) for tasks accepted, or slots freed, anywhere.
    ``idle_poll_s`` is then only the fallback for a lost notification.
    """

    def __init__(self, run_next: Callable[[], bool], concurrency: int, idle_poll_s: float = 0.2):
        self.run_next = run_next
        self.concurrency = max(0, concurrency)
        self.idle_poll_s = idle_poll_s
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"imagescope-worker-{i}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def submit(self, task_id: str) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.threads.clear()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.run_next():
                    self.wake.set()  # a slot freed: let the others look again
                    continue
            except Exception:  # the worker records task failures; never let a thread die
                log.exception("worker loop failed")
            # Without a push from other processes (SQLite; a lost NOTIFY), poll while idle.
            self.wake.wait(self.idle_poll_s)
            self.wake.clear()

"""Dispatch: handing accepted tasks to workers.

``Dispatcher`` is the seam: the embedded default runs workers as threads of the API
process; a Celery dispatcher can implement the same three methods to run them elsewhere.
The task store, not the queue, is the source of truth, so a lost queue loses nothing:
on start every PENDING task is queued again.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Protocol

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def start(self, backlog: list[str]) -> None:
        """Begin running tasks, the ``backlog`` (already PENDING) first, oldest first."""

    def submit(self, task_id: str) -> None: ...

    def stop(self) -> None: ...


class InProcessDispatcher:
    """A fixed pool of worker threads fed by an in-memory queue.

    ``concurrency=0`` runs no workers: the process accepts and serves tasks that
    workers elsewhere run (an API-only node).
    """

    def __init__(self, run: Callable[[str], None], concurrency: int):
        self.run = run
        self.concurrency = max(0, concurrency)
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.threads: list[threading.Thread] = []

    def start(self, backlog: list[str]) -> None:
        for task_id in backlog:
            self.queue.put(task_id)
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"imagescope-worker-{i}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def submit(self, task_id: str) -> None:
        self.queue.put(task_id)

    def stop(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join(timeout=30)
        self.threads.clear()

    def _loop(self) -> None:
        while (task_id := self.queue.get()) is not None:
            try:
                self.run(task_id)
            except Exception:  # the worker already records failures; never let a thread die
                log.exception("worker crashed on task %s", task_id)

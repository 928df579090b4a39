"""One task being run: what it has made so far and how far along it is, published to the task
store as it goes (throttled), and whether it should stop.

The worker and the video run (``tasks/videos.py``) hand ``step`` to an engine as its progress
and ``should_stop`` as its cancel check. The store's answer to each write tells whether the task
is still this process's: a cancel, or a lease lost to another process, and the run says stop.
A worker shutting down (``draining``) says stop too; the worker then gives the task back.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from imagescope.tasks.spec import ResultPart
from imagescope.tasks.store import TaskStore

PROGRESS_INTERVAL_S = 0.25  # progress writes (and cancel checks) at most this often


@dataclass
class TaskRun:
    """One task being run: publishes what is made and how far along it is; learns of a cancel
    (or a lost lease) from the store's answer and then says stop."""

    store: TaskStore
    task_id: str
    owner: str
    images: int
    wants_partials: bool = False  # the request asked for pictures on the way: progress counts them
    draining: threading.Event = field(default_factory=threading.Event)  # the worker is shutting down
    results: list[ResultPart] = field(default_factory=list)
    image: int = 0  # the image being made, from 0
    partials: int = 0  # pictures of it on the way kept so far
    stopped: bool = False
    _last: float = 0.0
    _at: tuple[int, int] = (0, 0)  # its last (step, total)

    def add(self, result: ResultPart) -> None:
        self.results.append(result)
        self._publish(results=self.results)

    def begin(self, image: int) -> None:
        self.image, self.partials, self._at = image, 0, (0, 0)

    def step(self, step: int, total: int) -> None:
        self._at = (step, total)
        if step < total and time.monotonic() - self._last < PROGRESS_INTERVAL_S:
            return
        self._publish(progress=self._progress())

    def partial_kept(self) -> None:
        """One more picture on the way is in storage: published at once, a stream waits for it."""
        self.partials += 1
        self._publish(progress=self._progress())

    def _progress(self) -> dict[str, int]:
        step, total = self._at
        progress = {"image": self.image + 1, "image_count": self.images, "step": step, "total_steps": total}
        if self.wants_partials:
            progress["partial_images"] = self.partials
        return progress

    def should_stop(self) -> bool:
        if self.draining.is_set():
            self.stopped = True
        if not self.stopped and time.monotonic() - self._last >= PROGRESS_INTERVAL_S:
            self._publish()
        return self.stopped

    def _publish(self, **values: Any) -> None:
        self._last = time.monotonic()
        if not self.store.report(self.task_id, self.owner, **values):
            self.stopped = True

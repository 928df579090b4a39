"""Wake-ups at a task's end, for callers waiting on it (long-poll, synchronous calls).

The store calls ``TaskEvents.ended`` after each terminal transition this process makes
(``TaskStore.on_end``), from whichever thread made it; a waiter is an ``asyncio.Event`` set
on its own event loop, so a waiting request holds no thread while it waits.

Other processes end tasks too (workers elsewhere, an API-only node with no workers): their
ends never reach this registry, so a waiter also reads the store again every
``REREAD_S`` (the longest a task ended elsewhere goes unseen). Hearing of those ends at once
(PostgreSQL LISTEN/NOTIFY) belongs with scaling out to several processes.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

REREAD_S = 1.0  # a waiter reads the store again this often: tasks ended by other processes


class Watch:
    """One waiter's view of one task's end; registered until the ``with`` block exits."""

    def __init__(self, events: TaskEvents, task_id: str):
        self.events = events
        self.task_id = task_id
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def __enter__(self) -> Watch:
        self.events._add(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.events._remove(self)

    @property
    def ended(self) -> bool:
        return self.event.is_set()

    async def wait(self, timeout: float) -> bool:
        """True as soon as the task has ended (in this process), False after ``timeout`` seconds.

        An end heard before this call counts: watch first, then read the store, then wait."""
        try:
            await asyncio.wait_for(self.event.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        return True


class TaskEvents:
    """Tasks' ends as this process makes them, told to whoever watches them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[str, set[Watch]] = {}

    def watch(self, task_id: str) -> Watch:
        """Watch ``task_id``'s end (within the running event loop): ``with events.watch(id) as w:``."""
        return Watch(self, task_id)

    def ended(self, task_id: str) -> None:
        """``task_id`` reached a terminal status: wake its watchers (any thread may call this)."""
        with self._lock:
            watches = self._watches.pop(task_id, set())
        for watch in watches:
            try:
                watch.loop.call_soon_threadsafe(watch.event.set)
            except RuntimeError:  # its loop has closed (shutdown): nobody left to wake
                pass

    def watching(self) -> int:
        """How many watches are registered (what tests and leak checks look at)."""
        with self._lock:
            return sum(len(watches) for watches in self._watches.values())

    def _add(self, watch: Watch) -> None:
        with self._lock:
            self._watches.setdefault(watch.task_id, set()).add(watch)

    def _remove(self, watch: Watch) -> None:
        with self._lock:
            watches = self._watches.get(watch.task_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[watch.task_id]

"""Wake-ups at a task's end, for callers waiting on it (long-poll, synchronous calls).

The store calls ``TaskEvents.ended`` after each terminal transition this process makes
(``TaskStore.on_end``), from whichever thread made it; a waiter is an ``asyncio.Event`` set
on its own event loop, so a waiting request holds no thread while it waits.

Other processes end tasks too (workers elsewhere, an API-only node with no workers): their
ends never reach this registry, so one sweeper thread asks the store every ``REREAD_S`` which
of all the watched tasks have ended (one query for every waiter, rather than a read per waiter:
a thousand long-polls cost what one does) and wakes their watchers. ``REREAD_S`` is the longest
a task ended elsewhere goes unseen. On PostgreSQL those ends are also pushed (notify.py: the
listener calls ``ended`` for each task any process ends), so the waiters answer at once and
the sweep stays as the bounded fallback for a lost notification.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from types import TracebackType

log = logging.getLogger(__name__)

REREAD_S = 1.0  # the sweeper asks the store this often about the watched tasks: ends made elsewhere

# The watched tasks → those of them that have ended (or are gone): one query.
EndedAmong = Callable[[Collection[str]], Collection[str]]


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
    """Tasks' ends as this process makes them (``ended``), and as the sweeper finds them in the
    store (``start``: ends made by other processes), told to whoever watches them."""

    def __init__(self, ended_among: EndedAmong | None = None, reread_s: float = REREAD_S) -> None:
        self._lock = threading.Lock()
        self._watches: dict[str, set[Watch]] = {}
        self._ended_among = ended_among
        self._reread_s = reread_s
        self._stopping = threading.Event()
        self._sweeper: threading.Thread | None = None

    def start(self) -> None:
        """Start the sweeper (given ``ended_among``)."""
        if self._ended_among is not None and self._sweeper is None:
            self._stopping.clear()
            self._sweeper = threading.Thread(target=self._sweep, name="task-end-sweeper", daemon=True)
            self._sweeper.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
            self._sweeper = None

    def _sweep(self) -> None:
        assert self._ended_among is not None
        while not self._stopping.wait(self._reread_s):
            with self._lock:
                watched = list(self._watches)
            if not watched:
                continue
            try:
                ended = self._ended_among(watched)
            except Exception:  # the database is down: the waiters time out as usual, nothing is lost
                log.warning("cannot read which watched tasks ended", exc_info=True)
                continue
            for task_id in ended:
                self.ended(task_id)

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

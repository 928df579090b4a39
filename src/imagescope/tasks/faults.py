"""Service faults: the service's trouble, not the task's.

Storage that cannot be written (``StorageUnavailable``: permissions, a full or read-only disk,
an object store unreachable or denying writes; botocore's connection and HTTP errors, should
one escape the S3 backend unwrapped) and a database that cannot be reached or written
(SQLAlchemy's ``OperationalError`` and kin) say nothing about the task that ran into them.
Such a task goes back to the queue with a backoff (``retry_delay``) and is FAILED only when
its fault deadline runs out; a submission that cannot be stored answers 503. Anything else (a PIL ``OSError`` decoding a
bad image, an engine bug) stays the task's own failure.

``Breaker`` pauses a process's workers while storage keeps failing, so a broken disk does not
cycle the whole queue through fault after fault: after a fault no task is claimed until a
probe write succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from botocore.exceptions import ConnectionError as S3ConnectionError
from botocore.exceptions import HTTPClientError as S3HttpError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from imagescope.storage.local import StorageUnavailable

log = logging.getLogger(__name__)

# Not DBAPIError as a whole: an IntegrityError or ProgrammingError is a bug, and retrying
# a bug for fifteen minutes only hides it.
SERVICE_FAULTS: tuple[type[Exception], ...] = (
    StorageUnavailable,
    S3ConnectionError,  # the endpoint refused or timed out the connection
    S3HttpError,  # the connection closed, or the answer did not come in time
    OperationalError,
    InterfaceError,
    PoolTimeout,
)

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0


def retry_delay(since_first_fault_s: float) -> float:
    """How long a faulted task waits before it may be claimed again.

    As long as it has been failing, within 1–30 s: a task retried after d seconds that
    fails again has been failing for about 2d, so the waits double without a counter.
    """
    return min(max(since_first_fault_s, FIRST_RETRY_S), MAX_RETRY_S)


class Breaker:
    """Whether this process's workers may claim tasks; shared by all of them.

    Closed: claims go on. ``trip()`` (a service fault) opens it; while open, ``allows()``
    runs ``probe`` (a small write under the files directory) at most once per delay — 0.5 s,
    doubling to 10 s — and closes on the first success. The delay starts over only after
    a task ran without a fault (``healthy()``), so storage that passes probes but fails real
    writes is not hammered either. Logs once per change of state, never per probe.
    """

    def __init__(
        self,
        probe: Callable[[], None],
        first_delay_s: float = 0.5,
        max_delay_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.probe = probe
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._delay = 0.0  # the wait before the next probe; 0: none yet since the last healthy run
        self._next_probe = 0.0

    @property
    def is_open(self) -> bool:
        return self._open

    def trip(self) -> None:
        with self._lock:
            self._back_off()
            if not self._open:
                self._open = True
                log.warning("storage or database failing: workers stop claiming tasks until a probe write succeeds")

    def healthy(self) -> None:
        """A task ran from claim to completion without a service fault."""
        with self._lock:
            if not self._open:
                self._delay = 0.0

    def allows(self) -> bool:
        """True while closed; while open, probes when the delay has passed (one thread at a time)."""
        with self._lock:
            if not self._open:
                return True
            if self.clock() < self._next_probe:
                return False
            self._next_probe = float("inf")  # this thread probes; the others keep waiting
        try:
            self.probe()
        except Exception:  # noqa: BLE001 - any failure of the probe keeps the breaker open
            with self._lock:
                self._back_off()
            return False
        with self._lock:
            if self._open:
                self._open = False
                log.warning("storage writable again: workers claim tasks again")
        return True

    def _back_off(self) -> None:
        self._delay = min(self._delay * 2, self.max_delay_s) if self._delay else self.first_delay_s
        self._next_probe = self.clock() + self._delay

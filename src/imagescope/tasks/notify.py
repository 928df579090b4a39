"""Push wake-ups between processes on PostgreSQL: ``LISTEN/NOTIFY`` on one channel.

Workers in other processes (other machines) cannot be woken by ``Dispatcher.submit``; without
a push an idle worker finds new work only at its next poll. So the store sends a notification
in the transaction that makes a task claimable (accepted, given back, requeued) or frees a slot
(a task ends); PostgreSQL delivers it at commit, to every listening process, and never for a
transaction rolled back. Each process keeps one dedicated autocommit connection that listens,
read by a thread: ``new:ID`` wakes the idle workers, ``end:ID`` wakes them too (a slot freed)
and tells the waiters of that task (long-polls, synchronous calls on an API-only node) at once.

A notification can be lost (the listening connection drops; it is made again after a pause),
so the workers' poll stays as the bounded fallback, seconds rather than the 200 ms it was.
SQLite has no such push: one process there is woken in-process, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "imagescope_tasks"
NEW = "new"  # a task became claimable: accepted, given back, requeued
END = "end"  # a task ended: its slot is free, its waiters may answer
RECONNECT_S = 1.0  # after the listening connection is lost, try again this often


def announce(session: Session, kind: str, task_id: str) -> None:
    """Notify every listening process of ``kind`` for ``task_id`` when ``session``'s transaction
    commits (nothing if it rolls back). Nothing on SQLite: no other process listens there."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": f"{kind}:{task_id}"}
        )


def libpq_dsn(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy URL (``postgresql+psycopg://…``)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class Listener:
    """One thread listening on ``CHANNEL``: each notification goes to ``on_new(task_id)`` or
    ``on_end(task_id)``; while connected, ``listening`` is set."""

    def __init__(self, dsn: str, on_new: Callable[[str], None], on_end: Callable[[str], None]):
        self.dsn = dsn
        self.on_new = on_new
        self.on_end = on_end
        self.listening = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="task-notify-listener", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.listening.clear()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:  # the database went away: the fallback polls cover the gap
                log.warning("task notifications lost, listening again: %s", exc)
            self.listening.clear()
            self._stopping.wait(RECONNECT_S)

    def _listen(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self.on_new("")  # anything sent while no one listened: look once
            while not self._stopping.is_set():
                for note in connection.notifies(timeout=0.5):
                    self._dispatch(note.payload)

    def _dispatch(self, payload: str) -> None:
        kind, _, task_id = payload.partition(":")
        try:
            if kind == END:
                self.on_end(task_id)
            else:
                self.on_new(task_id)
        except Exception:  # a listener's callback must not end the listening
            log.exception("task notification %r not handled", payload)

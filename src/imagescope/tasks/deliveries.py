"""The delivery loop of completion webhooks: threads of every process drain the outbox
(callbacks.py tells how rows get there).

A thread claims one due row at a time with a conditional UPDATE, so two processes never try
the same row at once; the claim outlives one try, and a process that dies mid-try leaves the
row to the others when its claim runs out (a receiver may then see a delivery twice: the
``X-Imagescope-Delivery`` id tells). Each try renders the task's body afresh (the task query's
own renderer, handed in by wiring), signs it with the account's current secret and POSTs it
through the callback guard to a checked address, following no redirect. A thread is woken at
once by an end in this process, and polls for the rest: rows of other processes, retries
coming due.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from imagescope.db import Database, WebhookDelivery, rowcount
from imagescope.tasks.callbacks import (
    MAX_ATTEMPTS,
    CallbackGuard,
    DeliveryState,
    UnsafeCallback,
    WebhookSecrets,
    retry_delay,
    signature,
)

log = logging.getLogger(__name__)

# (task id, account id, base URL) → the body GET /api/v1/tasks/{id} answers through that base URL;
# None once the task is gone (purged, or past its lifetime).
RenderTask = Callable[[str, int, str], "dict[str, Any] | None"]

TIMEOUT_S = 10.0  # one try: connect, send, and the answer's status line
CLAIM_S = 60.0  # a claim outlives the longest try, with room
POLL_S = 1.0  # the longest a due row of another process waits
THREADS = 2  # tries in flight at once, per process


@dataclass(frozen=True)
class Claimed:
    """A row this process holds for one try."""

    id: str
    task_id: str
    account_id: int
    url: str
    base_url: str
    event: str
    attempts: int  # tries made before this one


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # loads the CA bundle once; sharing it is thread-safe


class Deliveries:
    """``start``/``stop`` as the other background upkeep; ``wake`` after an end that queued a
    webhook. ``registry``: where to count tries (``imagescope_webhook_deliveries_total``)."""

    def __init__(
        self,
        db: Database,
        owner: str,
        guard: CallbackGuard,
        secrets: WebhookSecrets,
        render: RenderTask,
        *,
        threads: int = THREADS,
        poll_s: float = POLL_S,
        timeout_s: float = TIMEOUT_S,
        registry: CollectorRegistry | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.db = db
        self.owner = owner
        self.guard = guard
        self.secrets = secrets
        self.render = render
        self.threads = threads
        self.poll_s = poll_s
        self.timeout = httpx.Timeout(timeout_s)
        self.ssl_context = ssl_context
        self.outcomes = (
            Counter(
                "imagescope_webhook_deliveries",
                "Completion webhook tries, by outcome: delivered, retry, given_up.",
                ["outcome"],
                registry=registry,
            )
            if registry is not None
            else None
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"imagescope-webhooks-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """A try in flight is not waited for long: its row is tried again when the claim runs out."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()

    def run_once(self) -> bool:
        """Claim one due row and try it; False when none was due."""
        claimed = self._claim()
        if claimed is None:
            return False
        try:
            failure, give_up = self._try(claimed)
        except Exception:  # the database or the renderer failing: try again later
            log.exception("webhook %s of task %s: the try failed", claimed.id, claimed.task_id)
            failure, give_up = "internal error", False
        self._finish(claimed, failure, give_up)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once():
                    continue
                wait = self._idle_wait()
            except Exception:
                log.exception("webhook delivery loop")
                wait = self.poll_s
            # Clear before waiting, not after a claim found nothing: an end in between still wakes.
            self._wake.wait(wait)
            self._wake.clear()

    def _idle_wait(self) -> float:
        """Until the next retry comes due, at most ``poll_s`` (rows from other processes, and
        rows being tried now: their claims are not waited out here)."""
        now = time.time()
        unclaimed = WebhookDelivery.claimed_until.is_(None) | (WebhookDelivery.claimed_until < now)
        with Session(self.db) as session:
            due = session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.state == DeliveryState.PENDING, unclaimed
                )
            )
        if due is None:
            return self.poll_s
        return min(self.poll_s, max(0.01, due - now))

    def _claim(self) -> Claimed | None:
        now = time.time()
        due = (
            WebhookDelivery.state == DeliveryState.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookDelivery.claimed_until.is_(None) | (WebhookDelivery.claimed_until < now),
        )
        # Look first without writing, so idle polling never takes the write lock.
        with Session(self.db) as session:
            ids = session.scalars(
                select(WebhookDelivery.id).where(*due).order_by(WebhookDelivery.next_attempt_at).limit(8)
            ).all()
        for delivery_id in ids:
            claim = (
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, *due)
                .values(claimed_by=self.owner, claimed_until=now + CLAIM_S)
            )
            with Session(self.db) as session, session.begin():
                if rowcount(session, claim) != 1:
                    continue  # another thread or process got there first
                row = session.get_one(WebhookDelivery, delivery_id)
                return Claimed(row.id, row.task_id, row.account_id, row.url, row.base_url, row.event, row.attempts)
        return None

    def _try(self, claimed: Claimed) -> tuple[str | None, bool]:
        """(None, _) when delivered; else (what went wrong, whether to give up now)."""
        body = self.render(claimed.task_id, claimed.account_id, claimed.base_url)
        if body is None:
            return "task purged before delivery", True
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "imagescope-webhooks",
            "X-Imagescope-Event": claimed.event,
            "X-Imagescope-Delivery": claimed.id,
            "X-Imagescope-Signature": signature(
                self.secrets.for_account(claimed.account_id), content, int(time.time())
            ),
        }
        return self._post(claimed.url, headers, content), False

    def _post(self, url: str, headers: dict[str, str], content: bytes) -> str | None:
        """None when the receiver answered 2xx; else what happened, for the log and the row."""
        try:
            hop = self.guard.parse(url)
            addresses = self.guard.addresses(hop)  # checked again: what a name resolves to changes
        except UnsafeCallback as exc:
            return str(exc)
        extensions = {"sni_hostname": hop.host} if hop.scheme == "https" else {}
        failures = []
        # No connection reuse and no proxy: each try connects to the address just checked.
        with httpx.Client(
            verify=self.ssl_context or _default_ssl_context(),
            trust_env=False,
            follow_redirects=False,
            timeout=self.timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            for address in addresses:
                try:
                    with client.stream(
                        "POST",
                        hop.url_for(address),
                        content=content,
                        headers={**headers, "Host": hop.host_header},
                        extensions=extensions,
                    ) as response:  # the status is all we read: a receiver's body is its business
                        if 200 <= response.status_code < 300:
                            return None
                        return f"HTTP {response.status_code}"
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    failures.append(f"{address}: {type(exc).__name__}")  # the host's next address
                except httpx.TimeoutException:
                    return "timed out"
                except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
                    return f"{type(exc).__name__}: {exc}"[:200]
        return ("cannot connect: " + "; ".join(failures))[:200]

    def _finish(self, claimed: Claimed, failure: str | None, give_up: bool) -> None:
        now = time.time()
        attempts = claimed.attempts + (0 if give_up else 1)
        values: dict[str, Any] = {"attempts": attempts, "claimed_by": None, "claimed_until": None}
        if failure is None:
            outcome = "delivered"
            values.update(state=DeliveryState.DELIVERED, finished_at=now, last_error=None)
            log.info("webhook %s of task %s delivered (try %d)", claimed.id, claimed.task_id, attempts)
        elif give_up or attempts >= MAX_ATTEMPTS:
            outcome = "given_up"
            values.update(state=DeliveryState.GIVEN_UP, finished_at=now, last_error=failure[:200])
            log.warning(
                "webhook %s of task %s given up after %d tries: %s", claimed.id, claimed.task_id, attempts, failure
            )
        else:
            outcome = "retry"
            values.update(next_attempt_at=now + retry_delay(attempts), last_error=failure[:200])
            log.info("webhook %s of task %s: try %d failed (%s)", claimed.id, claimed.task_id, attempts, failure)
        mine = (WebhookDelivery.id == claimed.id, WebhookDelivery.claimed_by == self.owner)
        with Session(self.db) as session, session.begin():
            session.execute(update(WebhookDelivery).where(*mine).values(**values))
        if self.outcomes is not None:
            self.outcomes.labels(outcome).inc()

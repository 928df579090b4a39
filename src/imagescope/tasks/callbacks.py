"""Completion webhooks: the callback a task's creator names, and the durable outbox behind it.

A task-creating request may carry ``X-Imagescope-Callback: URL``. The way of one webhook::

    submission    CallbackGuard.check: http(s), no credentials, ≤ 2048 characters, a host that
                  resolves to public addresses only (or an IMAGESCOPE_CALLBACK_ALLOW_HOSTS pair)
                  → a task_callbacks row, written with the task
    task's end    queue_delivery, in the very transaction of the terminal UPDATE (store.py)
                  → a webhook_deliveries row: the outbox. No crash can fall between the two.
    delivery      deliveries.Deliveries, threads of every process: claim a due row, render the
                  task's query body, sign it, POST it through the guard; 2xx: delivered, anything
                  else: tried again after ``retry_delay``, given up after ``MAX_ATTEMPTS``.

The guard is the input images' one (inputs/addresses.py): resolve once, refuse unless every
address is public, then connect to a checked address, so DNS rebinding cannot reach inside.
A refusal's message names the rule broken, never an address the name resolved to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from imagescope.db import Account, Database, Task, TaskCallback, WebhookDelivery, WebhookSecret, write_locked
from imagescope.errors import invalid_parameter, shown
from imagescope.inputs.addresses import HostAllowlist, Resolver, is_public_address, parse_address, system_resolve
from imagescope.inputs.download import Hop
from imagescope.inputs.errors import InputDownloadFailed
from imagescope.tasks.records import TaskStatus

CALLBACK_HEADER = "X-Imagescope-Callback"
MAX_URL_CHARS = 2048

# What each terminal status announces (X-Imagescope-Event).
EVENTS = {
    TaskStatus.SUCCEEDED: "task.succeeded",
    TaskStatus.FAILED: "task.failed",
    TaskStatus.CANCELED: "task.canceled",
}

# Retries: 1 s, 2 s, 4 s ... doubling up to 15 min between tries; 14 tries span just over an hour
# (1023 s of doubling, then 3 × 900 s), so a receiver down for an hour's maintenance still gets it.
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 900.0
MAX_ATTEMPTS = 14


class DeliveryState:
    """A webhook_deliveries row's ``state``."""

    PENDING = "pending"  # to be tried (again) at next_attempt_at
    DELIVERED = "delivered"  # a try was answered 2xx
    GIVEN_UP = "given_up"  # MAX_ATTEMPTS tries failed, or the task is gone


def retry_delay(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed tries (1, 2, 3 ...) before the next one."""
    doublings = min(max(attempts - 1, 0), 32)  # past the cap long before; no float overflow
    return min(FIRST_RETRY_S * 2.0**doublings, MAX_RETRY_S)


@dataclass(frozen=True)
class Callback:
    """A checked callback URL, and the server's base URL as its request reached it (the task's
    result URLs in the webhook body are the ones a query through that address answers)."""

    url: str
    base_url: str


class UnsafeCallback(Exception):
    """A callback URL the guard refuses; the message is written for the caller."""


class CallbackGuard:
    """Where webhooks may go: checked at submission (``check``) and again on every delivery
    (``addresses``), since what a name resolves to can change in between.

    ``allow_hosts``: exact ``host:port`` pairs exempt from the address check (a receiver on
    the LAN, or a test's), matched as the URL writes them (see ``HostAllowlist``).
    """

    def __init__(self, allow_hosts: Iterable[str] = (), resolve: Resolver = system_resolve):
        self.allow_hosts = HostAllowlist(allow_hosts)
        self.resolve = resolve

    def check(self, url: str) -> str:
        """The URL to keep, resolved and checked now; a bad one raises 400 InvalidParameter."""
        try:
            hop = self.parse(url)
            self.addresses(hop)
        except UnsafeCallback as exc:
            raise invalid_parameter(str(exc)) from None
        return hop.url

    def parse(self, url: str) -> Hop:
        url = url.strip()
        if len(url) > MAX_URL_CHARS:
            raise UnsafeCallback(f"{CALLBACK_HEADER} must be at most {MAX_URL_CHARS} characters long.")
        try:
            parts = urlsplit(url)
            port = parts.port  # a port out of range or not a number raises here
        except ValueError:
            raise UnsafeCallback(f"{CALLBACK_HEADER} is not a valid URL: {shown(url)}.") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise UnsafeCallback(f"{CALLBACK_HEADER} must be an http or https URL, got {shown(url)}.")
        if not parts.hostname:
            raise UnsafeCallback(f"{CALLBACK_HEADER} has no host: {shown(url)}.")
        if parts.username is not None or parts.password is not None:
            raise UnsafeCallback(f"{CALLBACK_HEADER} must not carry a user name or password.")
        if port == 0:
            raise UnsafeCallback(f"{CALLBACK_HEADER} has no valid port: {shown(url)}.")
        try:
            return Hop.parse(url)
        except InputDownloadFailed:  # its reason repeats the URL unshortened: ours is enough
            raise UnsafeCallback(f"{CALLBACK_HEADER} has no valid host: {shown(url)}.") from None

    def addresses(self, hop: Hop) -> list[str]:
        """The addresses to connect to for ``hop``: every one public, or the pair allow-listed."""
        refused = UnsafeCallback(
            f"{CALLBACK_HEADER} must reach a public address: {shown(hop.host)} does not resolve to public "
            "addresses only (loopback, private and link-local addresses are refused)."
        )
        try:
            found = self.resolve(hop.host, hop.port)
        except (OSError, UnicodeError):  # socket.gaierror is an OSError
            raise refused from None
        if not found:
            raise refused
        if (hop.host, hop.port) in self.allow_hosts:
            return found
        for address in found:
            try:
                public = is_public_address(parse_address(address))
            except ValueError:
                public = False
            if not public:
                raise refused
        return found


def queue_delivery(session: Session, task: Task) -> bool:
    """In the transaction that ends ``task``: queue its webhook if its creator asked for one."""
    callback = session.get(TaskCallback, task.id)
    if callback is None:
        return False
    now = time.time()
    session.add(
        WebhookDelivery(
            id="dlv_" + uuid.uuid4().hex,
            task_id=task.id,
            account_id=task.account_id,
            url=callback.url,
            base_url=callback.base_url,
            event=EVENTS[TaskStatus(task.status)],
            state=DeliveryState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


def forget_callbacks(session: Session, task_ids: list[str], finished_before: float) -> None:
    """With a purge: the purged tasks' callbacks, and deliveries finished before ``finished_before``.
    A delivery still pending for a purged task is given up by the delivery loop, which finds no task."""
    if task_ids:
        session.execute(delete(TaskCallback).where(TaskCallback.task_id.in_(task_ids)))
    session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.state != DeliveryState.PENDING, WebhookDelivery.finished_at < finished_before
        )
    )


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """``X-Imagescope-Signature``: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``,
    keyed by the secret's text as UTF-8."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class SecretInfo:
    account: str
    secret: str
    created_at: float  # Unix seconds: when this secret was made (a rotation makes a new one)


class WebhookSecrets:
    """Each account's signing secret, made on first use. A rotation takes effect for every
    delivery tried after it, retries of earlier ends included."""

    def __init__(self, db: Database):
        self.db = db

    def show(self, account: str, rotate: bool = False) -> SecretInfo | None:
        """The secret of ``account`` (by name), made now if it has none, or replaced when
        ``rotate``; None when there is no such account."""
        with write_locked(self.db) as session:  # two first uses at once make one secret
            found = session.scalar(select(Account).where(Account.name == account))
            if found is None:
                return None
            row = self._secret(session, found.id, rotate)
            return SecretInfo(found.name, row.secret, row.created_at)

    def for_account(self, account_id: int) -> str:
        """The secret deliveries of ``account_id`` are signed with (made now if it has none)."""
        with Session(self.db) as session:
            row = session.get(WebhookSecret, account_id)
            if row is not None:
                return row.secret
        with write_locked(self.db) as session:
            return self._secret(session, account_id, rotate=False).secret

    @staticmethod
    def _secret(session: Session, account_id: int, rotate: bool) -> WebhookSecret:
        row = session.get(WebhookSecret, account_id)
        if row is None:
            row = WebhookSecret(account_id=account_id)
            session.add(row)
        elif not rotate:
            return row
        row.secret, row.created_at = "whsec_" + secrets.token_hex(32), time.time()
        return row

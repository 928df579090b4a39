"""Wiring: one object holding every part of a running server, built from Settings."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from imagescope.accounting.accounts import Accounts
from imagescope.config import Settings
from imagescope.db import Database, open_database
from imagescope.engines import ImageEngine
from imagescope.engines.rewriter import make_rewriter
from imagescope.http.tasks.protocol import render_task
from imagescope.inputs import ImageFetcher
from imagescope.inputs.intake import EditInputs
from imagescope.inspection.configured import make_inspector
from imagescope.models.catalog import Catalog
from imagescope.models.models_file import Bindings, load_bindings
from imagescope.ops.metrics import Metrics
from imagescope.storage.base import Storage, open_storage
from imagescope.storage.local import UrlSigner
from imagescope.storage.uploads import Uploads
from imagescope.tasks.accept import Acceptor
from imagescope.tasks.callbacks import CallbackGuard, WebhookSecrets
from imagescope.tasks.deliveries import Deliveries
from imagescope.tasks.dispatch import Dispatcher, InProcessDispatcher
from imagescope.tasks.notify import Listener, libpq_dsn
from imagescope.tasks.reads import TaskReads
from imagescope.tasks.retention import LeaseKeeper, Purger
from imagescope.tasks.store import TERMINAL, TaskEnd, TaskRecord, TaskStore
from imagescope.tasks.wakeups import TaskEvents
from imagescope.tasks.worker import Worker

log = logging.getLogger(__name__)

SQLITE_POLL_S = 0.2  # one machine: submissions wake the workers in-process; other processes' ends are polled
POSTGRES_POLL_S = 2.0  # NOTIFY wakes the workers; the poll only covers a lost notification


@dataclass
class Services:
    settings: Settings
    db: Database
    catalog: Catalog
    bindings: Bindings
    accounts: Accounts
    store: TaskStore
    reads: TaskReads  # the task query's lean read: the key and the task in one statement
    storage: Storage  # the data directory, or the bucket of IMAGESCOPE_STORAGE_URL
    signer: UrlSigner
    uploads: Uploads
    edit_inputs: EditInputs
    acceptor: Acceptor
    worker: Worker
    dispatcher: Dispatcher
    purger: Purger
    leases: LeaseKeeper
    metrics: Metrics
    task_events: TaskEvents  # wakes long-polls and synchronous calls at a task's end
    webhook_secrets: WebhookSecrets
    deliveries: Deliveries  # completion webhooks from the outbox
    listener: Listener | None  # PostgreSQL: other processes' accepted and ended tasks, pushed (notify.py)

    def start(self) -> None:
        """Everything an API process runs (and its worker threads, ``IMAGESCOPE_WORKERS``)."""
        self.start_worker()
        self.purger.start()
        self.task_events.start()

    def start_worker(self) -> None:
        """What a worker process runs: no HTTP, no purge, no waiters to wake."""
        if self.listener is not None:
            self.listener.start()
        self.leases.tick()  # tasks of a process that died before this one started
        self.leases.start()
        self.dispatcher.start()
        self.deliveries.start()  # webhooks of tasks ended anywhere: any process may deliver them

    def stop(self) -> None:
        """Running tasks go back to the queue first (``Worker.drain``), then the rest stops."""
        self.worker.drain()
        self.dispatcher.stop()
        self.task_events.stop()
        self.deliveries.stop()
        self.purger.stop()
        self.leases.stop()
        if self.listener is not None:
            self.listener.stop()

    def visible_task(self, task_id: str, account_id: int) -> TaskRecord | None:
        """The task as its owner may see it: another account's or an expired task is None."""
        task = self.store.get(task_id)
        if task is None or task.account_id != account_id or not self.visible(task):
            return None
        return task

    def visible(self, task: TaskRecord) -> bool:
        """False once an ended task has outlived its TTL (the purge may not have run yet)."""
        expired = time.time() - task.submit_time > self.settings.task_ttl_s
        return not (expired and task.status in TERMINAL)

    def result_url(self, base: str, key: str, ended_at: float) -> str:
        expires = int(ended_at + self.settings.url_ttl_s)
        return self.storage.presigned_url(key, expires) or self.signer.url(
            self.settings.public_url or base, key, expires
        )

    def webhook_body(self, task_id: str, account_id: int, base: str) -> dict[str, Any] | None:
        """A completion webhook's body: what ``GET /api/v1/tasks/{id}`` answers through ``base``
        (the same renderer), with the ``request_id`` of the request that created the task; None
        once the task is gone."""
        task = self.visible_task(task_id, account_id)
        if task is None:
            return None
        return {
            "request_id": task.request_id,
            **render_task(task, lambda key, ended: self.result_url(base, key, ended)),
        }


def build_services(
    settings: Settings, engines: dict[str, ImageEngine] | None = None, device: str | None = None
) -> Services:
    """Every part, built and not started; ``device`` (``worker --device``) replaces the models
    file's device of every diffusers engine."""
    bindings = load_bindings(settings.models_file, Catalog().with_deployment_values(settings.model_overrides))
    if device is not None:
        _place(bindings, device)
    bindings.load()  # the engines marked preload: their weights now, not at the first task
    catalog = bindings.catalog
    db = open_database(settings.db_url)
    metrics = Metrics(db)
    task_events = TaskEvents(lambda task_ids: store.ended_among(task_ids))  # store: bound below
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    webhook_secrets = WebhookSecrets(db)
    callbacks = CallbackGuard(settings.callback_allow_hosts)
    deliveries = Deliveries(
        db,
        owner,
        callbacks,
        webhook_secrets,
        # Bound late: the body is the task query's, rendered by the Services built below.
        lambda task_id, account_id, base: services.webhook_body(task_id, account_id, base),
        registry=metrics.registry,
    )

    def on_end(end: TaskEnd) -> None:
        task_events.ended(end.task_id)  # first: waking the waiters cannot fail
        if end.webhook:
            deliveries.wake()
        metrics.task_ended(end)

    store = TaskStore(db, on_end=on_end)
    stores = open_storage(settings)  # StorageSetupError: a bucket that cannot be used stops the start
    storage = stores.results
    uploads = Uploads(stores.uploads, settings.signing_secret())
    fetcher = ImageFetcher(
        allow_private=settings.input_allow_private,
        allow_hosts=settings.input_allow_hosts,
        connect_timeout=settings.input_connect_timeout_s,
        read_timeout=settings.input_read_timeout_s,
        total_timeout=settings.input_total_timeout_s,
        max_redirects=settings.input_max_redirects,
    )
    edit_inputs = EditInputs(storage, uploads, fetcher)
    inspector = make_inspector(settings.inspection)  # content inspection: off unless configured
    worker = Worker(
        store=store,
        catalog=catalog,
        engines=engines or bindings.engines,
        rewriter=make_rewriter(settings.rewriter),
        storage=storage,
        edit_inputs=edit_inputs,
        owner=owner,
        lease_s=settings.lease_s,
        fault_retry_s=settings.fault_retry_s,
        inspector=inspector,
    )
    postgres = db.dialect.name == "postgresql"
    poll_s = settings.worker_poll_s or (POSTGRES_POLL_S if postgres else SQLITE_POLL_S)
    dispatcher = InProcessDispatcher(worker.run_next, settings.workers, idle_poll_s=poll_s)
    listener = None
    if postgres:
        listener = Listener(libpq_dsn(settings.db_url), dispatcher.submit, _ended_elsewhere(dispatcher, task_events))
    services = Services(
        settings=settings,
        db=db,
        catalog=catalog,
        bindings=bindings,
        accounts=Accounts(db),
        store=store,
        storage=storage,
        signer=UrlSigner(settings.signing_secret()),
        uploads=uploads,
        edit_inputs=edit_inputs,
        reads=TaskReads(db),
        acceptor=Acceptor(catalog, edit_inputs, store, storage, dispatcher, callbacks, inspector),
        worker=worker,
        dispatcher=dispatcher,
        purger=Purger(store, storage, settings.task_ttl_s, settings.purge_interval_s, uploads),
        leases=LeaseKeeper(store, owner, settings.lease_s, settings.max_attempts),
        metrics=metrics,
        task_events=task_events,
        webhook_secrets=webhook_secrets,
        deliveries=deliveries,
        listener=listener,
    )
    return services


def _ended_elsewhere(dispatcher: Dispatcher, task_events: TaskEvents) -> Callable[[str], None]:
    """A task ended (in any process): its waiters here answer, and a slot may be free."""

    def ended(task_id: str) -> None:
        task_events.ended(task_id)
        dispatcher.submit(task_id)

    return ended


def _place(bindings: Bindings, device: str) -> None:
    """Every diffusers engine on ``device`` (before any weights load)."""
    for key, kind in bindings.kinds.items():
        engine: Any = bindings.engines.get(key)
        if kind == "diffusers" and engine is not None:
            engine.options = replace(engine.options, device=device)

"""Wiring: one object holding every part of a running server, built from Settings."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

from imagescope.accounting.accounts import Accounts
from imagescope.config import Settings
from imagescope.db import Database, open_database
from imagescope.engines import ImageEngine
from imagescope.engines.rewriter import make_rewriter
from imagescope.inputs import ImageFetcher
from imagescope.inputs.intake import EditInputs
from imagescope.models.catalog import Catalog
from imagescope.models.models_file import Bindings, load_bindings
from imagescope.ops.metrics import Metrics
from imagescope.storage.local import LocalStorage, UrlSigner
from imagescope.storage.uploads import Uploads
from imagescope.tasks.accept import Acceptor
from imagescope.tasks.dispatch import Dispatcher, InProcessDispatcher
from imagescope.tasks.retention import LeaseKeeper, Purger
from imagescope.tasks.store import TERMINAL, TaskEnd, TaskRecord, TaskStore
from imagescope.tasks.wakeups import TaskEvents
from imagescope.tasks.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    catalog: Catalog
    bindings: Bindings
    accounts: Accounts
    store: TaskStore
    storage: LocalStorage
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

    def start(self) -> None:
        self.leases.tick()  # tasks of a process that died before this one started
        self.leases.start()
        self.dispatcher.start()
        self.purger.start()

    def stop(self) -> None:
        self.purger.stop()
        self.dispatcher.stop()
        self.leases.stop()

    def visible_task(self, task_id: str, account_id: int) -> TaskRecord | None:
        """The task as its owner may see it: another account's or an expired task is None."""
        task = self.store.get(task_id)
        if task is None or task.account_id != account_id:
            return None
        expired = time.time() - task.submit_time > self.settings.task_ttl_s
        if expired and task.status in TERMINAL:
            return None
        return task

    def result_url(self, base: str, key: str, ended_at: float) -> str:
        expires = int(ended_at + self.settings.url_ttl_s)
        return self.signer.url(self.settings.public_url or base, key, expires)


def build_services(settings: Settings, engines: dict[str, ImageEngine] | None = None) -> Services:
    bindings = load_bindings(settings.models_file, Catalog().with_deployment_values(settings.model_overrides))
    bindings.load()  # the engines marked preload: their weights now, not at the first task
    catalog = bindings.catalog
    db = open_database(settings.db_url)
    metrics = Metrics(db)
    task_events = TaskEvents()

    def on_end(end: TaskEnd) -> None:
        task_events.ended(end.task_id)  # first: waking the waiters cannot fail
        metrics.task_ended(end)

    store = TaskStore(db, on_end=on_end)
    storage = LocalStorage(settings.files_dir)
    uploads = Uploads(LocalStorage(settings.data_dir / "uploads"), settings.signing_secret())
    fetcher = ImageFetcher(
        allow_private=settings.input_allow_private,
        allow_hosts=settings.input_allow_hosts,
        connect_timeout=settings.input_connect_timeout_s,
        read_timeout=settings.input_read_timeout_s,
        total_timeout=settings.input_total_timeout_s,
        max_redirects=settings.input_max_redirects,
    )
    edit_inputs = EditInputs(storage, uploads, fetcher)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
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
    )
    dispatcher = InProcessDispatcher(worker.run_next, settings.workers)
    return Services(
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
        acceptor=Acceptor(catalog, edit_inputs, store, storage, dispatcher),
        worker=worker,
        dispatcher=dispatcher,
        purger=Purger(store, storage, settings.task_ttl_s, settings.purge_interval_s, uploads),
        leases=LeaseKeeper(store, owner, settings.lease_s, settings.max_attempts),
        metrics=metrics,
        task_events=task_events,
    )

"""Accepting a task: the steps every task-creating route shares, with no HTTP in them.

Look the model up for the endpoint family, parse the body with the family's protocol (input
images given as data: URIs or uploads are checked and kept now, under the new task's id), then
persist the task PENDING after the account's rate and quota checks — or, when anything refuses
it, drop the inputs already kept — and wake a worker. A callback URL (completion webhook) is
checked first, resolving its host, and kept with the task. Refusals are raised as they come (the
request's error; a storage or database fault, which the HTTP layer answers 503).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imagescope.accounting.accounts import Caller
from imagescope.accounting.limits import admit_submission
from imagescope.inputs.intake import EditInputs
from imagescope.inspection import Inspector, NoInspection
from imagescope.models.catalog import Catalog, ModelSpec
from imagescope.storage.base import Storage
from imagescope.tasks.callbacks import Callback, CallbackGuard
from imagescope.tasks.dispatch import Dispatcher
from imagescope.tasks.spec import GenerationRequest
from imagescope.tasks.store import TaskRecord, TaskStore

# (name, reference) → the reference the task keeps (see inputs.intake.EditInputs.take)
TakeImage = Callable[[str, str], str]
Parse = Callable[[dict[str, Any], ModelSpec, TakeImage], GenerationRequest]


@dataclass(frozen=True)
class Submission:
    """A task-creating request, whatever its wire format."""

    caller: Caller
    endpoint: str  # the endpoint family (models.catalog.TEXT2IMAGE, ...)
    body: dict[str, Any]  # the parsed JSON body
    request_id: str
    oss_resolve: bool = False  # oss:// inputs may be resolved (X-DashScope-OssResourceResolve)
    callback: str | None = None  # X-Imagescope-Callback: where to POST the task's end
    base_url: str = ""  # the server as the client reached it (the webhook body's result URLs)


@dataclass
class Acceptor:
    catalog: Catalog
    edit_inputs: EditInputs
    store: TaskStore
    storage: Storage
    dispatcher: Dispatcher
    callbacks: CallbackGuard
    # Content inspection of the prompts and the input images kept at submission.
    inspector: Inspector = field(default_factory=NoInspection)

    def accept(self, submission: Submission, parse: Parse) -> TaskRecord:
        """The new PENDING task, handed to the dispatcher."""
        who = submission.caller
        spec = self.catalog.lookup(submission.body.get("model"), submission.endpoint)
        task_id = str(uuid.uuid4())
        callback = None
        if submission.callback is not None:
            callback = Callback(self.callbacks.check(submission.callback), submission.base_url)

        def take(name: str, reference: str) -> str:
            return self.edit_inputs.take(
                task_id, name, reference, spec.image_rules, who.account_id, submission.oss_resolve
            )

        try:
            generation = parse(submission.body, spec, take)
            task = self.store.create(
                who,
                submission.endpoint,
                generation,
                submission.request_id,
                task_id=task_id,
                callback=callback,
                admit=lambda session: admit_submission(session, who.account_id, spec),
            )
        except Exception:
            self.storage.delete_task(task_id)  # inputs kept for a task that was not accepted
            raise
        self.dispatcher.submit(task.id)
        return task

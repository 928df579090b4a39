"""Accepting a task: the steps every task-creating route shares, with no HTTP in them.

Look the model up for the endpoint family, parse the body with the family's protocol (input
images given as data: URIs or uploads are checked and kept now, under the new task's id), pass
the prompts and those images through content inspection (400 DataInspectionFailed), then
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
from imagescope.errors import data_inspection_failed, service_unavailable
from imagescope.inputs.intake import EditInputs
from imagescope.inspection import InspectionFailed, InspectionUnavailable, Inspector, NoInspection
from imagescope.models.catalog import Catalog, ModelSpec
from imagescope.storage.base import Storage
from imagescope.tasks.callbacks import Callback, CallbackGuard
from imagescope.tasks.dispatch import Dispatcher
from imagescope.tasks.spec import STORED, GenerationRequest, VideoSpec
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
            self._inspect(generation, spec)
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

    def _inspect(self, generation: GenerationRequest, spec: ModelSpec) -> None:
        """Content inspection of the prompts and of the input images kept now (those fetched when
        the task runs are the worker's to check): 400 DataInspectionFailed when one may not pass,
        503 when the inspector cannot say and fails closed. Before the task exists: a refused
        request is not accepted, counted or billed."""
        try:
            self.inspector.check_text([text for text in (generation.prompt, generation.negative_prompt) if text])
            if isinstance(self.inspector, NoInspection):
                return  # inspection off: the kept images are not read back for nothing
            for reference in _kept_images(generation):
                self.inspector.check_image(self.edit_inputs.load(reference, spec.image_rules).image)
        except InspectionFailed:
            raise data_inspection_failed() from None
        except InspectionUnavailable:
            raise service_unavailable() from None


def _kept_images(generation: GenerationRequest) -> list[str]:
    """The input images of ``generation`` kept in storage at submission (data: URIs, uploads).
    Not the mask (a black-and-white shape), nor a video's clips (not pictures to inspect)."""
    references = list(generation.images)
    if isinstance(generation.options, VideoSpec):
        video = generation.options
        references += [video.first_frame, video.last_frame, *video.reference_images]
    return [reference for reference in references if reference.startswith(STORED)]

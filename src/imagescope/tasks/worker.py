"""The worker: runs one task from RUNNING to its end.

load the input images (editing) → rewrite the prompt (prompt_extend) → one engine call per
image (seed + i) → watermark → PNG into storage → complete. A video task is one MP4 instead
(tasks/videos.py), completed and billed the same way. Each image (and each text part of
an interleaved answer) is published as it is made, with the engine's progress, so the task
query and streamed responses see them; a cancel is noticed there and stops the engine
between steps. Pictures of an image on its way (OpenAI's ``partial_images``) go to storage
under the task (``partial_key``) and their count into ``progress``, never into the results.
A failing image becomes a per-image ``ErrorPart``; the task FAILS only when no image was made.
Only an engine's ``JobRefused`` reaches the user as what it says (InvalidParameter); anything
else an engine raises is logged and answered as the generic InternalError.

A service fault under a run (storage or database failing, see faults.py) is not the task's:
the run stops, the task goes back to the queue with a backoff (what it wrote is discarded,
its kept inputs stay) and this process's workers claim nothing more until a probe write
succeeds. It FAILS only when its fault deadline (``fault_retry_s`` from its first fault) runs out.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image
from sqlalchemy.orm import Session

from imagescope.accounting.billing import charge
from imagescope.accounting.limits import effective_limits
from imagescope.db import Task
from imagescope.engines import (
    Canceled,
    EditEngine,
    EditJob,
    EngineConfigError,
    ImageEngine,
    ImageJob,
    InterleaveEngine,
    JobRefused,
    Progress,
    ShouldStop,
    TextToImageEngine,
)
from imagescope.engines.base import Partial
from imagescope.engines.rewriter import Rewriter
from imagescope.engines.watermark import apply_watermark
from imagescope.errors import INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE, INVALID_PARAMETER_CODE, ServiceError
from imagescope.inputs.intake import EditInputs, load_inputs, output_size
from imagescope.inspection import (
    DATA_INSPECTION_FAILED,
    INPUT_INSPECTION_MESSAGE,
    OUTPUT_INSPECTION_MESSAGE,
    InspectionFailed,
    Inspector,
    NoInspection,
)
from imagescope.models.catalog import Catalog, ModelSpec
from imagescope.storage.base import Storage
from imagescope.tasks.faults import SERVICE_FAULTS, Breaker
from imagescope.tasks.png import encode_png
from imagescope.tasks.run import TaskRun
from imagescope.tasks.spec import (
    STORED,
    EditOptions,
    ErrorPart,
    GenerationRequest,
    ImagePart,
    InterleaveLimit,
    ResultPart,
    TaskKind,
    TextPart,
)
from imagescope.tasks.store import TaskRecord, TaskStatus, TaskStore
from imagescope.tasks.videos import make_video

log = logging.getLogger(__name__)


def partial_key(task_id: str, image: int, index: int) -> str:
    """Where picture ``index`` on the way of image ``image`` of a task is kept (and purged with it)."""
    return f"{task_id}/partials/{image}-{index}.png"


@dataclass
class Worker:
    store: TaskStore
    catalog: Catalog
    engines: dict[str, ImageEngine]  # by binding name (ModelSpec.engine_for); abilities checked per task
    rewriter: Rewriter
    storage: Storage
    edit_inputs: EditInputs
    owner: str  # this process, as named in the leases of the tasks it runs
    lease_s: float
    # A task that met a service fault is FAILED once this long has passed since its first one.
    fault_retry_s: float = 900.0
    # Content inspection of input images fetched at run time and of every output image.
    inspector: Inspector = field(default_factory=NoInspection)
    breaker: Breaker = field(init=False)
    # Tasks whose return to the queue failed too (the database was down): returned before any claim.
    _unsettled: set[str] = field(init=False, default_factory=set)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    # Set by ``drain``: claim nothing more, and give the running tasks back to the queue.
    _draining: threading.Event = field(init=False, default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.breaker = Breaker(self._probe)

    def run_next(self) -> bool:
        """Claim and run the next task that may run now; False if there is none (or while
        storage or the database is failing)."""
        if self._draining.is_set() or not self.breaker.allows() or not self._settled():
            return False
        try:
            task_id = self.store.claim_next(self._concurrency, self.owner, self.lease_s)
        except SERVICE_FAULTS as exc:
            log.warning("cannot claim tasks now: %s", exc)
            self.breaker.trip()
            return False
        if task_id is None:
            return False
        self.execute(task_id)
        return True

    def drain(self) -> None:
        """Shutting down: claim nothing more; each running task stops at its engine's next step
        (or image) and goes back to the queue at once, its attempt not spent (``give_back``)."""
        self._draining.set()

    def execute(self, task_id: str) -> None:
        """Run a task this worker has claimed (it is RUNNING) to its end, or back to the queue."""
        try:
            self._run(task_id)
        except SERVICE_FAULTS as exc:  # from the run, or from recording how it ended
            log.warning("task %s goes back to the queue: %s", task_id, exc)
            self.breaker.trip()
            self._defer(task_id)
        else:
            self.breaker.healthy()

    def _run(self, task_id: str) -> None:
        try:
            task = self.store.get(task_id)
            if task is None:  # purged while it was claimed: nothing to run
                return
            run = TaskRun(
                self.store,
                task_id,
                self.owner,
                task.request.n,
                task.request.partial_images > 0,
                draining=self._draining,
            )
            actual_prompt = self._generate(task, run)
        except Canceled:
            if self._draining.is_set() and self.store.give_back(task_id, self.owner):
                log.info("task %s given back to the queue: this worker is shutting down", task_id)
                self.storage.discard_outputs(task_id)
            else:
                log.info("task %s stopped: canceled, or no longer this worker's", task_id)
            return
        except SERVICE_FAULTS:
            raise
        except InspectionFailed:  # an input image fetched for the run may not pass
            log.info("task %s failed: an input image did not pass content inspection", task_id)
            self.store.fail(task_id, DATA_INSPECTION_FAILED, INPUT_INSPECTION_MESSAGE, owner=self.owner)
            return
        except JobRefused as exc:  # the model's engine cannot serve this kind of request at all
            log.info("task %s refused: %s", task_id, exc.message)
            self.store.fail(task_id, INVALID_PARAMETER_CODE, exc.message, owner=self.owner)
            return
        except ServiceError as exc:  # the request's input images: cannot be fetched, or are not acceptable
            log.info("task %s failed: %s", task_id, exc)
            self.store.fail(task_id, exc.code, exc.message, owner=self.owner)
            return
        except Exception:
            log.exception("task %s failed", task_id)
            self.store.fail(task_id, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE, owner=self.owner)
            return
        self.store.complete(task_id, self.owner, run.results, actual_prompt, on_images=self._bill)

    def _defer(self, task_id: str) -> None:
        """Back to the queue (or FAILED past its deadline), then drop what this run wrote.
        Files go after the task is back: it cannot be claimed again before ``retry_at``, and
        while it is still ours no other run can be writing them."""
        try:
            status = self.store.defer(task_id, self.owner, self.fault_retry_s)
        except SERVICE_FAULTS:
            with self._lock:
                self._unsettled.add(task_id)
            return
        if status is None:
            return  # canceled meanwhile, or another process's now
        if status == TaskStatus.FAILED:
            log.error("task %s failed: storage or database failing for %.0f s", task_id, self.fault_retry_s)
        self.storage.discard_outputs(task_id)

    def _settled(self) -> bool:
        """Return the tasks whose return to the queue failed; False while some still cannot be."""
        with self._lock:
            pending, self._unsettled = self._unsettled, set()
        for task_id in pending:
            self._defer(task_id)
        if self._unsettled:
            self.breaker.trip()
            return False
        return True

    def _probe(self) -> None:
        """The breaker's probe: tasks past their fault deadline fail while the workers wait,
        then a small write under the files directory must succeed."""
        try:
            failed = self.store.fail_overdue(time.time() - self.fault_retry_s)
        except SERVICE_FAULTS:
            failed = []
        if failed:
            log.error("%d tasks failed: storage or database failing for %.0f s", len(failed), self.fault_retry_s)
        self.storage.probe()

    def _concurrency(self, session: Session, account_id: int, model: str) -> int:
        return effective_limits(session, account_id, self.catalog.models[model]).concurrency

    def _bill(self, session: Session, task: Task, images: int) -> None:
        spec = self.catalog.models[task.model]
        charge(session, task, images, spec, effective_limits(session, task.account_id, spec).free_quota)

    def _generate(self, task: TaskRecord, run: TaskRun) -> str | None:
        """Makes every part into ``run``; returns the rewritten prompt (None: not rewritten)."""
        req = task.request
        if req.kind is TaskKind.VIDEO:  # one MP4: tasks/videos.py
            return make_video(self, task, run)
        spec = self.catalog.models[req.model]
        engine = self.engines[spec.engine_for(req.function)]
        images, mask = load_inputs(self.edit_inputs, req, spec) if req.images else ([], None)
        for reference, image in zip(req.images, images, strict=True):
            if not reference.startswith(STORED):  # those kept at submission were inspected then
                self.inspector.check_image(image)
        size = req.size if req.size is not None else output_size(req, images[0])
        actual_prompt = self.rewriter.rewrite(req.prompt, req.model) if req.prompt_extend else None
        prompt = actual_prompt or req.prompt
        texts: list[str] | None = None  # an interleaved answer's text parts, one before each image
        if req.kind is TaskKind.INTERLEAVE:
            if not isinstance(engine, InterleaveEngine):
                raise JobRefused(f"The engine of {req.model} cannot answer interleaved.")
            assert isinstance(req.options, InterleaveLimit)  # GenerationRequest's rule for interleaved requests
            texts = engine.interleave(prompt, req.options.max_images)
        paint = _painter(req, engine, images, mask)
        prompts = texts if texts is not None else [prompt] * req.n  # each image is drawn from its text part
        for index, image_prompt in enumerate(prompts):
            if texts is not None:
                run.add(TextPart(len(run.results), image_prompt))
            self._image(task, spec, paint, run, index, len(prompts), image_prompt, size)
            if run.stopped or self._draining.is_set():
                raise Canceled(task.id)
        return actual_prompt

    def _image(
        self,
        task: TaskRecord,
        spec: ModelSpec,
        paint: _Paint,
        run: TaskRun,
        index: int,
        count: int,
        prompt: str,
        size: tuple[int, int],
    ) -> None:
        """Image ``index`` of ``count``, added to ``run`` as its next part (or its error)."""
        req = task.request
        width, height = size
        part = len(run.results)
        run.begin(index)
        job = ImageJob(
            model=req.model,
            prompt=prompt,
            negative_prompt=req.negative_prompt,
            width=width,
            height=height,
            seed=req.image_seed(index),
            index=index,
            count=count,
            partial_images=req.partial_images,
        )
        keep = self._keeper(task, spec, run) if job.partial_images else None
        result: ResultPart
        try:
            image = paint(job, run.step, run.should_stop, keep)
            if image.size != (width, height):
                raise RuntimeError(f"engine {spec.engine_for(req.function)} made {image.size}, not {width}x{height}")
            self.inspector.check_image(image)
            if req.watermark:
                image = apply_watermark(image, spec.watermark_text)
            key = f"{task.id}/{part}.png"
            self.storage.save(key, encode_png(image.convert("RGB")))
            result = ImagePart(part, key, width, height)
        except (Canceled, *SERVICE_FAULTS):  # type: ignore[misc]  # mypy cannot read a starred tuple of classes
            raise  # a cancel, or the service's trouble: the run stops, no per-image error
        except JobRefused as exc:  # the engine cannot do this job as asked: the user may ask otherwise
            log.info("task %s image %d refused: %s", task.id, index, exc.message)
            result = ErrorPart(part, INVALID_PARAMETER_CODE, exc.message)
        except InspectionFailed:  # the image was made but may not be shown: not stored, not billed
            log.info("task %s image %d did not pass content inspection", task.id, index)
            result = ErrorPart(part, DATA_INSPECTION_FAILED, OUTPUT_INSPECTION_MESSAGE)
        except EngineConfigError as exc:  # e.g. the weights directory is gone: the operator's, and so is its path
            log.error("task %s image %d: the engine is misconfigured: %s", task.id, index, exc)
            result = ErrorPart(part, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE)
        except Exception:  # a ValueError from PIL or torch too: ours, and its text stays in the log
            log.exception("task %s image %d failed", task.id, index)
            result = ErrorPart(part, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE)
        run.add(result)

    def _keeper(self, task: TaskRecord, spec: ModelSpec, run: TaskRun) -> Partial:
        """Keeps the engine's pictures of ``run``'s image on its way, up to the number asked for."""

        def keep(picture: Image.Image) -> None:
            if run.partials >= task.request.partial_images:
                return
            if task.request.watermark:
                picture = apply_watermark(picture, spec.watermark_text)
            self.storage.save(partial_key(task.id, run.image, run.partials), encode_png(picture.convert("RGB")))
            run.partial_kept()

        return keep


# One image of a task as its engine makes it: (job, progress, should_stop, partial) → the picture.
_Paint = Callable[[ImageJob, Progress, ShouldStop, Partial | None], Image.Image]


def _painter(
    req: GenerationRequest, engine: ImageEngine, images: list[Image.Image], mask: Image.Image | None
) -> _Paint:
    """How ``engine`` makes each image of ``req``: from text, or from the input images. JobRefused
    when the engine has not that ability (the model is bound to an engine that cannot serve it).
    The hooks go by keyword, as the engine interface names them (wrappers take ``**hooks``)."""
    if not images:
        if not isinstance(engine, TextToImageEngine):
            raise JobRefused(f"The engine of {req.model} cannot make images from text.")
        drawer = engine  # narrowed, for the closure
        takes_partial = _takes_keyword(drawer.generate, "partial")

        def generate(
            job: ImageJob, progress: Progress, should_stop: ShouldStop, partial: Partial | None
        ) -> Image.Image:
            if partial is not None and takes_partial:
                return drawer.generate(job, progress=progress, should_stop=should_stop, partial=partial)
            return drawer.generate(job, progress=progress, should_stop=should_stop)

        return generate
    if not isinstance(engine, EditEngine):
        raise JobRefused(f"The engine of {req.model} cannot edit images.")
    editor = engine
    # The output area and max_images were the worker's to use; the function's options are the engine's.
    options = req.options if isinstance(req.options, EditOptions) else None

    def edit(job: ImageJob, progress: Progress, should_stop: ShouldStop, _partial: Partial | None) -> Image.Image:
        edit_job = EditJob(
            model=job.model,
            function=req.function,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            images=tuple(images),
            mask=mask,
            width=job.width,
            height=job.height,
            seed=job.seed,
            index=job.index,
            count=job.count,
            options=options,
        )
        return editor.edit(edit_job, progress=progress, should_stop=should_stop)

    return edit


def _takes_keyword(method: Callable[..., object], name: str) -> bool:
    """Whether ``method`` takes the keyword ``name`` (engines written before it was added do not)."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # no signature to read: pass only what every engine takes
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)

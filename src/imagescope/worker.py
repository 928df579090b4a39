"""The worker: runs one task from PENDING to its end.

claim → rewrite the prompt (prompt_extend) → one engine call per image (seed + i) →
watermark → PNG into storage → complete. A failing image becomes a per-image
``{code, message}`` entry; the task FAILS only when no image was made.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image
from sqlalchemy.orm import Session

from .billing import charge
from .catalog import Catalog
from .db import Task
from .editing import EditInputs, load_inputs, output_size
from .engines import EditJob, Engine, ImageJob
from .errors import INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE, ApiError
from .limits import effective_limits
from .rewriter import Rewriter
from .storage import LocalStorage
from .taskstore import TaskRecord, TaskStore
from .watermark import apply_watermark

log = logging.getLogger(__name__)


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Level 1: several times faster than the default for a few per cent more bytes.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@dataclass
class Worker:
    store: TaskStore
    catalog: Catalog
    engines: dict[str, Engine]
    rewriter: Rewriter
    storage: LocalStorage
    edit_inputs: EditInputs
    owner: str  # this process, as named in the leases of the tasks it runs
    lease_s: float

    def run_next(self) -> bool:
        """Claim and run the next task that may run now; False if there is none."""
        task_id = self.store.claim_next(self._concurrency, self.owner, self.lease_s)
        if task_id is None:
            return False
        self.execute(task_id)
        return True

    def execute(self, task_id: str) -> None:
        """Run a task this worker has claimed (it is RUNNING) to its end."""
        task = self.store.get(task_id)
        try:
            results, actual_prompt = self._generate(task)
        except ApiError as exc:  # the request's input images: cannot be fetched, or are not acceptable
            log.info("task %s failed: %s", task_id, exc)
            self.store.fail(task_id, exc.code, exc.message, owner=self.owner)
            return
        except Exception:
            log.exception("task %s failed", task_id)
            self.store.fail(task_id, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE, owner=self.owner)
            return
        self.store.complete(task_id, self.owner, results, actual_prompt, on_images=self._bill)

    def _concurrency(self, session: Session, account_id: int, model: str) -> int:
        return effective_limits(session, account_id, self.catalog.models[model]).concurrency

    def _bill(self, session: Session, task: Task, images: int) -> None:
        spec = self.catalog.models[task.model]
        charge(session, task, images, spec, effective_limits(session, task.account_id, spec).free_quota)

    def _generate(self, task: TaskRecord) -> tuple[list[dict], str | None]:
        req = task.request
        spec = self.catalog.models[req.model]
        engine = self.engines[spec.engine_for(req.function)]
        width, height = req.width, req.height
        if req.is_edit:
            images, mask = load_inputs(self.edit_inputs, req, spec)
            width, height = output_size(req, images[0])
        actual_prompt = self.rewriter.rewrite(req.prompt, req.model) if req.prompt_extend else None
        results = []
        for index in range(req.n):
            common = dict(
                model=req.model, prompt=actual_prompt or req.prompt, negative_prompt=req.negative_prompt,
                width=width, height=height, seed=req.image_seed(index), index=index, count=req.n,
            )
            try:
                if req.is_edit:
                    image = engine.edit(EditJob(function=req.function, images=tuple(images), mask=mask,
                                                options=req.options, **common))
                else:
                    image = engine.generate(ImageJob(**common))
                if image.size != (width, height):
                    raise RuntimeError(f"engine {engine.name} made {image.size}, not {width}x{height}")
                if req.watermark:
                    image = apply_watermark(image, spec.watermark_text)
                key = f"{task.id}/{index}.png"
                self.storage.save(key, encode_png(image.convert("RGB")))
                results.append({"index": index, "file": key})
            except Exception:
                log.exception("task %s image %d failed", task.id, index)
                results.append(
                    {"index": index, "code": INTERNAL_ERROR_CODE, "message": INTERNAL_ERROR_MESSAGE}
                )
        return results, actual_prompt

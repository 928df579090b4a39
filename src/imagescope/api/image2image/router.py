"""``POST /api/v1/services/aigc/image2image/image-synthesis``: accept an editing task."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ...accounts import Caller
from ...catalog import IMAGE2IMAGE
from ...editing import OSS_RESOLVE_HEADER
from ...limits import admit_submission
from .. import reply, require_async
from ..auth import caller
from ..fields import parse_body
from .protocol import to_edit_request

router = APIRouter()


@router.post("/api/v1/services/aigc/image2image/image-synthesis")
async def image_synthesis(request: Request, who: Caller = Depends(caller)) -> dict:
    require_async(request)
    services = request.app.state.services
    body = parse_body(await request.body())
    task_id = str(uuid.uuid4())
    oss_enabled = request.headers.get(OSS_RESOLVE_HEADER, "").lower() == "enable"

    def accept():
        spec = services.catalog.lookup(body.get("model"), IMAGE2IMAGE)

        def take(name: str, reference: str) -> str:
            return services.edit_inputs.take(task_id, name, reference, spec.input_rules, who.account_id, oss_enabled)

        try:
            generation = to_edit_request(body, services.catalog, take)
            return services.store.create(
                who, IMAGE2IMAGE, generation, request.state.request_id, task_id=task_id,
                admit=lambda session: admit_submission(session, who.account_id, spec),
            )
        except Exception:
            services.storage.delete_task(task_id)  # inputs kept for a task that was not accepted
            raise

    task = await run_in_threadpool(accept)
    services.dispatcher.submit(task.id)
    return reply(request, {"output": {"task_id": task.id, "task_status": task.status.value}})

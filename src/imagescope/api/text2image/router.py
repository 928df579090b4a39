"""``POST /api/v1/services/aigc/text2image/image-synthesis``: accept a task, answer PENDING."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ...accounts import Caller
from ...catalog import TEXT2IMAGE
from ...limits import admit_submission
from .. import reply, require_async
from ..auth import caller
from ..fields import parse_body
from .protocol import to_generation_request

router = APIRouter()


@router.post("/api/v1/services/aigc/text2image/image-synthesis")
async def image_synthesis(request: Request, who: Caller = Depends(caller)) -> dict:
    require_async(request)
    services = request.app.state.services
    generation = to_generation_request(parse_body(await request.body()), services.catalog)
    spec = services.catalog.models[generation.model]
    task = await run_in_threadpool(
        services.store.create,
        who,
        TEXT2IMAGE,
        generation,
        request.state.request_id,
        admit=lambda session: admit_submission(session, who.account_id, spec),
    )
    services.dispatcher.submit(task.id)
    return reply(request, {"output": {"task_id": task.id, "task_status": task.status.value}})

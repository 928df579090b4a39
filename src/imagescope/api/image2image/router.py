"""``POST /api/v1/services/aigc/image2image/image-synthesis``: accept an editing task."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ...accounts import Caller
from ...catalog import IMAGE2IMAGE
from .. import reply, require_async
from ..auth import caller
from ..fields import parse_body
from ..submit import accept_task
from .protocol import to_edit_request

router = APIRouter()


@router.post("/api/v1/services/aigc/image2image/image-synthesis")
async def image_synthesis(request: Request, who: Caller = Depends(caller)) -> dict:
    require_async(request)
    body = parse_body(await request.body())
    task = await accept_task(request, who, IMAGE2IMAGE, body, to_edit_request)
    return reply(request, {"output": {"task_id": task.id, "task_status": task.status.value}})

"""``POST /api/v1/services/aigc/text2image/image-synthesis``: accept a task, answer PENDING."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from imagescope.accounting.accounts import Caller
from imagescope.http import create_task
from imagescope.http.answers import TaskCreated
from imagescope.http.deps import caller
from imagescope.http.text2image.protocol import Text2ImageRequest, to_generation_request
from imagescope.http.wire import ASYNC, documented, request_body, response_schema
from imagescope.models.catalog import TEXT2IMAGE

router = APIRouter()


@router.post(
    "/api/v1/services/aigc/text2image/image-synthesis",
    responses={200: response_schema(TaskCreated)},
    openapi_extra=documented(request_body(Text2ImageRequest), ASYNC),
)
async def image_synthesis(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    return await create_task(request, who, TEXT2IMAGE, to_generation_request)

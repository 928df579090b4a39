"""``POST /api/v1/services/aigc/image2image/image-synthesis``: accept an editing task."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from imagescope.accounting.accounts import Caller
from imagescope.http import create_task
from imagescope.http.answers import TaskCreated
from imagescope.http.deps import caller
from imagescope.http.image2image.protocol import ImageEditRequest, to_edit_request
from imagescope.http.wire import ASYNC, OSS_RESOLVE, documented, request_body, response_schema
from imagescope.models.catalog import IMAGE2IMAGE

router = APIRouter()


@router.post(
    "/api/v1/services/aigc/image2image/image-synthesis",
    responses={200: response_schema(TaskCreated)},
    openapi_extra=documented(request_body(ImageEditRequest), ASYNC, OSS_RESOLVE),
)
async def image_synthesis(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    return await create_task(request, who, IMAGE2IMAGE, to_edit_request)

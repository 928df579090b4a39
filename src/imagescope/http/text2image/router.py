"""``POST /api/v1/services/aigc/text2image/image-synthesis``: accept a task, answer PENDING."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from imagescope.accounting.accounts import Caller
from imagescope.models.catalog import TEXT2IMAGE
from imagescope.http import create_task
from imagescope.http.deps import caller
from imagescope.http.text2image.protocol import to_generation_request

router = APIRouter()


@router.post("/api/v1/services/aigc/text2image/image-synthesis")
async def image_synthesis(request: Request, who: Caller = Depends(caller)) -> dict:
    return await create_task(request, who, TEXT2IMAGE, to_generation_request)

"""``POST /api/v1/services/aigc/image2image/image-synthesis``: accept an editing task."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from imagescope.accounting.accounts import Caller
from imagescope.models.catalog import IMAGE2IMAGE
from imagescope.http import create_task
from imagescope.http.deps import caller
from imagescope.http.image2image.protocol import to_edit_request

router = APIRouter()


@router.post("/api/v1/services/aigc/image2image/image-synthesis")
async def image_synthesis(request: Request, who: Caller = Depends(caller)) -> dict:
    return await create_task(request, who, IMAGE2IMAGE, to_edit_request)

"""``POST /api/v1/services/aigc/video-generation/video-synthesis`` and
``POST /api/v1/services/aigc/image2video/video-synthesis``: accept a video task, answer PENDING."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from imagescope.accounting.accounts import Caller
from imagescope.http import create_task
from imagescope.http.answers import TaskCreated
from imagescope.http.deps import caller
from imagescope.http.video.protocol import VideoRequest, to_video_request
from imagescope.http.wire import ASYNC, OSS_RESOLVE, documented, request_body, response_schema
from imagescope.models.video import IMAGE2VIDEO, VIDEO_GENERATION

router = APIRouter()


@router.post(
    "/api/v1/services/aigc/video-generation/video-synthesis",
    responses={200: response_schema(TaskCreated)},
    openapi_extra=documented(
        request_body(VideoRequest, "Text-to-video, image-to-video and VACE editing."), ASYNC, OSS_RESOLVE
    ),
)
async def video_synthesis(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    return await create_task(request, who, VIDEO_GENERATION, to_video_request)


@router.post(
    "/api/v1/services/aigc/image2video/video-synthesis",
    responses={200: response_schema(TaskCreated)},
    openapi_extra=documented(
        request_body(VideoRequest, "First-and-last-frame video (kf2v models)."), ASYNC, OSS_RESOLVE
    ),
)
async def keyframes_synthesis(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    return await create_task(request, who, IMAGE2VIDEO, to_video_request)

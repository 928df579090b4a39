"""A video task as ``GET /api/v1/tasks/{id}`` shows it (video-notes §1), and its stored request.

Finished::

    {"output": {"task_id", "task_status": "SUCCEEDED", "submit_time", "scheduled_time", "end_time",
                "video_url", "orig_prompt", "actual_prompt"},
     "usage": {"video_duration": 5, "video_count": 1, "video_ratio": "832*480"}}

``actual_prompt`` only when prompt_extend was on (as for images); ``video_ratio`` is the output's
``width*height``, as the older models' answers show it. The SDK's VideoSynthesisOutput and
VideoSynthesisUsage read these fields. When a model that makes sound (wan2.5, wan2.6) was asked
for it and the engine made a silent video (the preview engine always does), ``output.audio`` is
false (our addition): the hosted service would have given a soundtrack.
A failed task shows ``code`` and ``message``, and no usage: it is not billed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imagescope.http.video.protocol import VACE_FUNCTION_PARAMETERS
from imagescope.tasks.spec import GenerationRequest, VaceFunction, VideoPart, VideoSpec
from imagescope.tasks.store import TaskRecord, TaskStatus


def render_video_output(
    task: TaskRecord, output: dict[str, Any], url_for: Callable[[str], str]
) -> dict[str, Any] | None:
    """Adds a video task's fields to ``output``; returns its ``usage`` (None until it succeeded)."""
    part = next((p for p in task.results if isinstance(p, VideoPart)), None)
    if task.status is not TaskStatus.SUCCEEDED or part is None:
        return None
    output["video_url"] = url_for(part.file)
    output["orig_prompt"] = task.request.prompt
    if task.actual_prompt is not None:
        output["actual_prompt"] = task.actual_prompt
    video = task.request.options
    if isinstance(video, VideoSpec) and video.audio and not part.audio:
        output["audio"] = False
    return {"video_duration": part.duration, "video_count": 1, "video_ratio": f"{part.width}*{part.height}"}


def render_video_request(req: GenerationRequest, image: Callable[[str], str]) -> dict[str, Any]:
    """The stored request in the shape it was sent (``{model, input, parameters}``), every kept
    input as a signed URL, an http(s) one as it was given."""
    video = req.options
    assert isinstance(video, VideoSpec)  # GenerationRequest's rule for video requests
    inputs: dict[str, Any] = {"prompt": req.prompt}
    if req.negative_prompt:
        inputs["negative_prompt"] = req.negative_prompt
    if video.function is not None:
        inputs["function"] = video.function.value
    first = "first_frame_url" if video.last_frame or video.function is not None else "img_url"
    roles = {
        first: video.first_frame,
        "last_frame_url": video.last_frame,
        "video_url" if video.function is not VaceFunction.VIDEO_EXTENSION else "first_clip_url": video.video,
        "last_clip_url": video.last_clip,
        "mask_video_url" if video.mask_is_video else "mask_image_url": video.mask,
        "audio_url": video.audio_url,
        "template": video.template,
    }
    for name, reference in roles.items():
        if reference:
            inputs[name] = reference if name in ("audio_url", "template") else image(reference)
    if video.reference_images:
        inputs["ref_images_url"] = [image(reference) for reference in video.reference_images]
    parameters: dict[str, Any] = {}
    if req.size is not None:
        parameters["size"] = f"{req.size[0]}*{req.size[1]}"
    else:
        parameters["resolution"] = video.resolution
    parameters.update(
        duration=video.duration,
        seed=req.seed,
        prompt_extend=req.prompt_extend,
        watermark=req.watermark,
    )
    if video.audio:
        parameters["audio"] = True
    if video.vace is not None:
        parameters.update(_vace_parameters(video))
    return {"model": req.model, "input": inputs, "parameters": parameters}


def _vace_parameters(video: VideoSpec) -> dict[str, Any]:
    """The function's own parameters (each function reads only its own)."""
    assert video.vace is not None and video.function is not None
    values = {name: getattr(video.vace, name) for name in VACE_FUNCTION_PARAMETERS[video.function]}
    return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}

"""Wire format of ``/api/v1/tasks``: a task as the hosted service shows it (spec 001, 002).

Times are UTC+8, ``YYYY-MM-DD HH:mm:ss.SSS``. ``results[]`` carry ``url`` and
``orig_prompt`` (and ``actual_prompt`` only when prompt_extend was on), or a per-image
``code``/``message``; ``usage.image_count`` counts successes only. Tasks created on
``image-generation`` (wan2.6) show ``finished`` and the ``choices`` format instead. Video tasks
(video-notes §1) show ``video_url``, ``orig_prompt`` (and ``actual_prompt``) and ``usage``
``{video_duration, video_count, video_ratio}`` (video_output.py). While a task is RUNNING,
``progress`` (our addition) says which image (or frame) and which step the engine is at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

from imagescope.errors import invalid_parameter, shown
from imagescope.http.multimodal.protocol import render_task_output
from imagescope.http.tasks.video_output import render_video_output, render_video_request
from imagescope.models.catalog import IMAGE_GENERATION
from imagescope.tasks.spec import (
    STORED,
    Doodle,
    ErrorPart,
    ExpandScales,
    ImagePart,
    InterleaveLimit,
    Strength,
    TaskKind,
    TextPart,
    Upscale,
)
from imagescope.tasks.store import TaskRecord, TaskStatus

UTC8 = timezone(timedelta(hours=8))


def format_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC8).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def parse_list_time(value: str | None, name: str) -> float | None:
    """``start_time``/``end_time`` of the task listing: ``YYYYMMDDhhmmss`` in UTC+8."""
    if value is None or value == "":
        return None
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC8).timestamp()
    except ValueError:
        raise invalid_parameter(f"{name} must be formatted as YYYYMMDDhhmmss, got {shown(value)}") from None


def unknown_task(task_id: str) -> dict[str, Any]:
    return {"task_id": task_id, "task_status": TaskStatus.UNKNOWN.value}


def render_task(task: TaskRecord, url_for: Callable[[str, float], str]) -> dict[str, Any]:
    """The body of ``GET /api/v1/tasks/{id}`` minus ``request_id``: ``{output, usage?}``."""
    output: dict[str, Any] = {"task_id": task.id, "task_status": task.status.value}
    for name in ("submit_time", "scheduled_time", "end_time"):
        if (value := getattr(task, name)) is not None:
            output[name] = format_time(value)
    body: dict[str, Any] = {"output": output}
    if task.status is TaskStatus.RUNNING and task.progress:
        output["progress"] = task.progress  # our addition: image i of n, step s of total
    if task.status is TaskStatus.FAILED:
        output["code"] = task.code
        output["message"] = task.message
    if task.request.kind is TaskKind.VIDEO:  # one video: video_url, usage in seconds
        usage = render_video_output(task, output, lambda key: url_for(key, task.end_time or task.submit_time))
        if usage is not None:
            body["usage"] = usage
        return body
    if task.endpoint == IMAGE_GENERATION:  # the messages protocol: choices, finished (spec 002)
        fields, usage = render_task_output(task, lambda key: url_for(key, task.end_time or task.submit_time))
        output.update(fields)
        if usage is not None:
            body["usage"] = usage
        return body

    total = task.request.n
    succeeded = sum(1 for part in task.results if isinstance(part, ImagePart))
    failed = total - succeeded if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED) else 0
    if task.status is TaskStatus.SUCCEEDED:
        results: list[dict[str, Any]] = []
        # wanx2.1-imageedit's results carry only the url (spec 003); the others echo the prompt.
        echo_prompt = task.request.function is None and task.request.kind is not TaskKind.INTERLEAVE
        for part in sorted(task.results, key=lambda part: part.index):
            match part:
                case ImagePart(file=key):
                    item = {"orig_prompt": task.request.prompt} if echo_prompt else {}
                    if task.actual_prompt is not None:
                        item["actual_prompt"] = task.actual_prompt
                    item["url"] = url_for(key, task.end_time or task.submit_time)
                case ErrorPart(code=code, message=message):
                    item = {"code": code, "message": message}
                case TextPart():
                    continue  # an interleaved answer's text: shown in the choices format only
            results.append(item)
        output["results"] = results
        body["usage"] = {"image_count": succeeded}
    output["task_metrics"] = {"TOTAL": total, "SUCCEEDED": succeeded, "FAILED": failed}
    return body


def render_request(task: TaskRecord, url_for: Callable[[str, float], str]) -> dict[str, Any]:
    """The body of ``GET /api/v1/tasks/{id}/request`` minus ``request_id``: the stored request
    in the async image-synthesis shape (``{model, input, parameters}``), every kept input image
    as a signed URL (kept with the task until it is purged), an http(s) input as it was given."""
    req = task.request

    def image(reference: str) -> str:
        if reference.startswith(STORED):
            return url_for(reference.removeprefix(STORED), task.end_time or task.submit_time)
        return reference

    if req.kind is TaskKind.VIDEO:
        return {
            "task_id": task.id,
            "task_status": task.status.value,
            "endpoint": task.endpoint,
            "request": render_video_request(req, image),
        }

    inputs: dict[str, Any] = {"prompt": req.prompt}
    if req.negative_prompt:
        inputs["negative_prompt"] = req.negative_prompt
    if req.function is not None:  # wanx2.1-imageedit: one base image, perhaps a mask (spec 003)
        inputs["function"] = req.function.value
        inputs["base_image_url"] = image(req.images[0])
        if req.mask:
            inputs["mask_image_url"] = image(req.mask)
    elif req.images:
        inputs["images"] = [image(reference) for reference in req.images]
    parameters: dict[str, Any] = {}
    if req.size is not None:
        parameters["size"] = f"{req.size[0]}*{req.size[1]}"
    parameters.update(n=req.n, seed=req.seed, prompt_extend=req.prompt_extend, watermark=req.watermark)
    match req.options:
        case Strength() | ExpandScales() | Upscale() | Doodle() as option:
            parameters.update(asdict(option))
        case InterleaveLimit(max_images=max_images):
            parameters.update(enable_interleave=True, max_images=max_images)
        case _:
            pass  # OutputArea: a 1K/2K preset or none, already turned into the output's geometry
    return {
        "task_id": task.id,
        "task_status": task.status.value,
        "endpoint": task.endpoint,
        "request": {"model": req.model, "input": inputs, "parameters": parameters},
    }


def render_list_item(task: TaskRecord) -> dict[str, Any]:
    """One entry of ``GET /api/v1/tasks``; times there are Unix milliseconds."""

    def ms(ts: float | None) -> int | None:
        return None if ts is None else int(ts * 1000)

    return {
        "api_key_id": str(task.api_key_id),
        "caller_parent_id": str(task.account_id),
        "caller_uid": str(task.account_id),
        "gmt_create": ms(task.submit_time),
        "start_time": ms(task.scheduled_time),
        "end_time": ms(task.end_time),
        "region": "local",
        "request_id": task.request_id,
        "status": task.status.value,
        "task_id": task.id,
        "user_api_unique_key": f"apikey:v1:aigc:{task.endpoint}:{task.model}",
        "model_name": task.model,
    }

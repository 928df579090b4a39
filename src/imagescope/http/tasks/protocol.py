"""Wire format of ``/api/v1/tasks``: a task as the hosted service shows it (spec 001, 002).

Times are UTC+8, ``YYYY-MM-DD HH:mm:ss.SSS``. ``results[]`` carry ``url`` and
``orig_prompt`` (and ``actual_prompt`` only when prompt_extend was on), or a per-image
``code``/``message``; ``usage.image_count`` counts successes only. Tasks created on
``image-generation`` (wan2.6) show ``finished`` and the ``choices`` format instead. While a task
is RUNNING, ``progress`` (our addition) says which image and which step the engine is at.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from imagescope.errors import invalid_parameter, shown
from imagescope.http.multimodal.protocol import render_task_output
from imagescope.models.catalog import IMAGE_GENERATION
from imagescope.tasks.spec import ErrorPart, ImagePart, TaskKind, TextPart
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

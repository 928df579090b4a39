"""A task as read from the tasks table, and the one place its JSON columns are written and read.

The stored JSON is the format the tasks table has always held, so rows written before these
types existed read back unchanged:

- ``request``: the request's fields, with ``width``/``height`` 0 for a size that follows the
  input image, ``function`` "" (text to image), "edit" (editing without a wanx2.1 function),
  "interleave" or the wanx2.1 function, and ``options`` a flat object of the option's fields.
  A video request (added later) is stored with ``function`` "video", ``width``/``height`` 0 when
  the size follows its first frame, and ``options`` the VideoSpec's fields (``vace`` an object
  of VaceOptions' fields, or null).
- ``results``: a list of ``{index, file, width, height}`` (an image), ``{index, text}`` (a text
  part), ``{index, code, message}`` (a failed image) or ``{index, file, width, height, fps,
  frames, duration, audio}`` (a video).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from imagescope.db import Task
from imagescope.tasks.spec import (
    Doodle,
    ErrorPart,
    ExpandScales,
    Function,
    GenerationRequest,
    ImagePart,
    InterleaveLimit,
    OutputArea,
    RequestOptions,
    ResultPart,
    Strength,
    TaskKind,
    TextPart,
    Upscale,
    VaceFunction,
    VaceOptions,
    VideoPart,
    VideoSpec,
)


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"


TERMINAL = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED)


@dataclass(frozen=True)
class TaskRecord:
    id: str
    account_id: int
    api_key_id: int
    endpoint: str
    model: str
    status: TaskStatus
    request: GenerationRequest
    request_id: str
    submit_time: float
    scheduled_time: float | None
    end_time: float | None
    attempts: int
    results: list[ResultPart]
    actual_prompt: str | None
    code: str | None
    message: str | None
    progress: dict[str, Any] | None = None  # while RUNNING: what ``TaskStore.report`` last wrote

    @classmethod
    def from_row(cls, row: Task) -> TaskRecord:
        return cls(
            id=row.id,
            account_id=row.account_id,
            api_key_id=row.api_key_id,
            endpoint=row.endpoint,
            model=row.model,
            status=TaskStatus(row.status),
            request=request_from_json(row.request),
            request_id=row.request_id,
            submit_time=row.submit_time,
            scheduled_time=row.scheduled_time,
            end_time=row.end_time,
            attempts=row.attempts,
            results=results_from_json(row.results),
            actual_prompt=row.actual_prompt,
            code=row.code,
            message=row.message,
            progress=json.loads(row.progress) if row.progress else None,
        )


# --- the request column ----------------------------------------------------------------------

# The stored ``function`` of the requests without a wanx2.1 function.
_STORED_KIND = {
    TaskKind.GENERATE: "",
    TaskKind.EDIT: "edit",
    TaskKind.INTERLEAVE: "interleave",
    TaskKind.VIDEO: "video",
}
_KIND_STORED_AS = {stored: kind for kind, stored in _STORED_KIND.items()}
_OPTION_TYPES: tuple[type[RequestOptions], ...] = (Strength, ExpandScales, Upscale, Doodle, OutputArea, InterleaveLimit)


def request_to_json(request: GenerationRequest) -> str:
    width, height = request.size or (0, 0)
    data = {
        "model": request.model,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "width": width,
        "height": height,
        "n": request.n,
        "seed": request.seed,
        "prompt_extend": request.prompt_extend,
        "watermark": request.watermark,
        "function": request.function or _STORED_KIND[request.kind],
        "images": list(request.images),
        "mask": request.mask,
        "options": asdict(request.options) if request.options is not None else {},
    }
    if request.partial_images:  # OpenAI's streaming only: other rows stay as they were
        data["partial_images"] = request.partial_images
    return json.dumps(data, ensure_ascii=False)


def request_from_json(text: str) -> GenerationRequest:
    data = json.loads(text)
    stored = data.get("function", "")
    return GenerationRequest(
        model=data["model"],
        prompt=data["prompt"],
        negative_prompt=data["negative_prompt"],
        size=(data["width"], data["height"]) if data["width"] else None,
        n=data["n"],
        seed=data["seed"],
        prompt_extend=data["prompt_extend"],
        watermark=data["watermark"],
        kind=_KIND_STORED_AS.get(stored, TaskKind.EDIT),  # else a wanx2.1 function: an edit
        function=None if stored in _KIND_STORED_AS else Function(stored),
        images=tuple(data.get("images", ())),
        mask=data.get("mask", ""),
        options=_options_from_dict(data.get("options") or {}),
        partial_images=data.get("partial_images", 0),
    )


def _options_from_dict(data: dict[str, Any]) -> RequestOptions | None:
    """The option whose fields the stored object holds (each option's fields are its own)."""
    if not data:
        return None
    if set(data) == set(VideoSpec.__dataclass_fields__):
        return _video_from_dict(data)
    for option in _OPTION_TYPES:
        if set(data) == set(option.__dataclass_fields__):
            made: RequestOptions = option(**data)
            return made
    raise ValueError(f"stored request options of no known kind: {sorted(data)}")


def _video_from_dict(data: dict[str, Any]) -> VideoSpec:
    vace = data["vace"]
    return VideoSpec(
        **{
            **data,
            "function": VaceFunction(data["function"]) if data["function"] else None,
            "reference_images": tuple(data["reference_images"]),
            "vace": None if vace is None else VaceOptions(**{**vace, "obj_or_bg": tuple(vace["obj_or_bg"])}),
        }
    )


# --- the results column ----------------------------------------------------------------------


def results_to_json(results: list[ResultPart]) -> str:
    return json.dumps([asdict(part) for part in results], ensure_ascii=False)


def results_from_json(text: str | None) -> list[ResultPart]:
    return [_part_from_dict(part) for part in json.loads(text)] if text else []


def _part_from_dict(data: dict[str, Any]) -> ResultPart:
    if "fps" in data:
        return VideoPart(**data)
    if "file" in data:
        return ImagePart(data["index"], data["file"], data["width"], data["height"])
    if "text" in data:
        return TextPart(data["index"], data["text"])
    return ErrorPart(data["index"], data["code"], data["message"])

"""Wire format of ``POST /api/v1/services/aigc/video-generation/video-synthesis`` (text-to-video,
image-to-video, VACE editing) and ``POST /api/v1/services/aigc/image2video/video-synthesis``
(first-and-last-frame), video-notes §1-2::

    {"model": "wan2.1-t2v-turbo",
     "input": {"prompt": "...", "negative_prompt": "...", "img_url": "...",
               "first_frame_url": "...", "last_frame_url": "...", "function": "image_reference",
               "ref_images_url": ["..."], "video_url": "...", "mask_image_url": "..."},
     "parameters": {"size": "1280*720", "resolution": "720P", "duration": 5, "seed": 42,
                    "prompt_extend": true, "watermark": false, "audio": true}}

What the SDK sends besides is tolerated: ``input.extend_prompt`` (read only when
``parameters.prompt_extend`` is absent) and ``input.function: "video-synthesis"`` (its own
name for the call, sent on every call: it is no VACE function, so a VACE request names its
function through ``extra_input``, which the SDK merges over it). Other models ignore
``input.function`` altogether. Image references are kept by ``take_image`` (tasks/accept.py) as
an editing request's are; VACE's clips (``video_url``, ``mask_video_url``, ``*_clip_url``) too,
checked as MP4s. The size of an image-to-video output follows its first frame, so it is decided
when the task runs; ``duration`` is checked then too (the hosted service fails the task).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from imagescope.errors import invalid_parameter, shown
from imagescope.http.params import choice, number, reference, seed_or_random
from imagescope.http.wire import Seed, WireModel, checked_later, parse
from imagescope.models.catalog import NEGATIVE_PROMPT_MAX, ModelSpec
from imagescope.models.video import VideoMode, VideoRules, size_tier
from imagescope.tasks.accept import TakeImage
from imagescope.tasks.spec import GenerationRequest, TaskKind, VaceFunction, VaceOptions, VideoSpec

SDK_FUNCTION = "video-synthesis"  # what the SDK sends as input.function on every call
IMAGE = {"type": "string", "description": "An http(s) URL, a data:{mime};base64,… URI, or an oss:// upload."}
CLIP = {"type": "string", "description": "An MP4 (≤ 50 MB, ≤ 5 s): http(s), data: or oss://."}
CONTROLS = ("posebodyface", "posebody", "depth", "scribble")
MASK_TYPES = ("tracking", "fixed")
EXPAND_MODES = ("hull", "bbox", "original")
SCALES = ("top_scale", "bottom_scale", "left_scale", "right_scale")
# Each VACE function's own parameters (the others are ignored, as the hosted API ignores them),
# in the order they are read, and shown again by GET /api/v1/tasks/{id}/request.
VACE_FUNCTION_PARAMETERS: dict[VaceFunction, tuple[str, ...]] = {
    VaceFunction.IMAGE_REFERENCE: ("obj_or_bg",),
    VaceFunction.VIDEO_REPAINTING: ("control_condition", "strength"),
    VaceFunction.VIDEO_EDIT: ("mask_type", "expand_ratio", "expand_mode"),
    VaceFunction.VIDEO_EXTENSION: (),
    VaceFunction.VIDEO_OUTPAINTING: SCALES,
}
VACE_DEFAULTS = VaceOptions()


def _doc(schema: dict[str, Any], description: str) -> Any:
    return checked_later({**schema, "description": f"{description} {schema['description']}"})


class VideoInput(WireModel):
    prompt: str = Field("", description="What happens. Required but for i2v/kf2v. Truncated beyond the limit.")
    negative_prompt: str = Field("", description=f"Truncated beyond {NEGATIVE_PROMPT_MAX} characters.")
    img_url: Annotated[Any, _doc(IMAGE, "Image-to-video: the first frame.")] = None
    first_frame_url: Annotated[Any, _doc(IMAGE, "kf2v (and VACE video_extension): the first frame.")] = None
    last_frame_url: Annotated[Any, _doc(IMAGE, "kf2v (and VACE video_extension): the last frame.")] = None
    audio_url: Annotated[Any, checked_later({"type": "string", "description": "wan2.5/2.6: a soundtrack."})] = None
    template: Annotated[Any, checked_later({"type": "string", "description": "An effect preset."})] = None
    function: Annotated[
        Any, checked_later({"type": "string", "enum": [f.value for f in VaceFunction], "description": "VACE only."})
    ] = None
    extend_prompt: Annotated[Any, checked_later({"type": "boolean", "description": "The SDK's old name."})] = None
    ref_images_url: Annotated[
        Any, checked_later({"type": "array", "items": IMAGE, "description": "VACE image_reference: 1-3."})
    ] = None
    video_url: Annotated[Any, _doc(CLIP, "VACE: the clip to repaint, edit or outpaint.")] = None
    mask_image_url: Annotated[Any, _doc(IMAGE, "VACE video_edit: white = edit, on every frame.")] = None
    mask_video_url: Annotated[Any, _doc(CLIP, "VACE video_edit: a mask per frame.")] = None
    first_clip_url: Annotated[Any, _doc(CLIP, "VACE video_extension: continue this clip.")] = None
    last_clip_url: Annotated[Any, _doc(CLIP, "VACE video_extension: lead into this clip.")] = None


class VideoParameters(WireModel):
    size: Annotated[Any, checked_later({"type": "string", "description": "t2v and VACE: width*height."})] = None
    resolution: Annotated[
        Any, checked_later({"type": "string", "description": "i2v and kf2v: 480P, 720P or 1080P."})
    ] = None
    duration: int | None = Field(None, description="Seconds; one the model cannot make fails the task.")
    seed: Seed | None = Field(None, description="0–2147483647. Default: random.")
    prompt_extend: bool | None = Field(None, description="Rewrite the prompt first (default true).")
    watermark: bool = Field(False, description='Draw "AI-generated" bottom-right.')
    audio: bool | None = Field(None, description="wan2.5/2.6: false makes a silent video (default: sound).")
    obj_or_bg: Annotated[Any, checked_later({"type": "array", "description": "image_reference."})] = None
    control_condition: Annotated[Any, checked_later({"type": "string", "enum": list(CONTROLS)})] = None
    strength: Annotated[Any, checked_later({"type": "number", "minimum": 0, "maximum": 1})] = None
    mask_type: Annotated[Any, checked_later({"type": "string", "enum": list(MASK_TYPES)})] = None
    expand_ratio: Annotated[Any, checked_later({"type": "number", "minimum": 0, "maximum": 1})] = None
    expand_mode: Annotated[Any, checked_later({"type": "string", "enum": list(EXPAND_MODES)})] = None
    top_scale: Annotated[Any, checked_later({"type": "number", "minimum": 1, "maximum": 2})] = None
    bottom_scale: Annotated[Any, checked_later({"type": "number", "minimum": 1, "maximum": 2})] = None
    left_scale: Annotated[Any, checked_later({"type": "number", "minimum": 1, "maximum": 2})] = None
    right_scale: Annotated[Any, checked_later({"type": "number", "minimum": 1, "maximum": 2})] = None


class VideoRequest(WireModel):
    model: str = Field(description="e.g. wan2.1-t2v-turbo, wan2.5-i2v-preview, wanx2.1-kf2v-plus, wanx2.1-vace-plus")
    input: VideoInput
    parameters: VideoParameters = Field(default_factory=VideoParameters)

    def to_generation_request(self, spec: ModelSpec, take_image: TakeImage) -> GenerationRequest:
        """``spec``: this request's model, looked up for the endpoint family (a video model)."""
        rules = spec.video
        assert rules is not None, spec.name  # the video endpoints serve video models only
        given, inputs = self.parameters, self.input
        mode = rules.mode
        if inputs.prompt == "" and mode in (VideoMode.TEXT, VideoMode.VACE):
            raise invalid_parameter("Field required: input.prompt")
        size = self._size(rules) if mode in (VideoMode.TEXT, VideoMode.VACE) else None
        tier = size_tier(size) if size is not None else self._resolution(rules)
        extend = given.prompt_extend
        if extend is None:  # the SDK's deprecated input.extend_prompt, else the default (true)
            extend = inputs.extend_prompt if isinstance(inputs.extend_prompt, bool) else True
        video = VideoSpec(
            duration=rules.default_duration if given.duration is None else given.duration,
            fps=rules.fps,
            resolution=tier,
            audio=rules.sound and (given.audio is not False),
            audio_url=_text(inputs.audio_url, "input.audio_url") if rules.sound else "",
            template=_text(inputs.template, "input.template"),
            **self._inputs(mode, take_image),
        )
        return GenerationRequest(
            model=spec.name,
            prompt=inputs.prompt[: spec.prompt_max],
            negative_prompt=inputs.negative_prompt[:NEGATIVE_PROMPT_MAX],
            size=size,
            n=1,
            seed=seed_or_random(given.seed),
            prompt_extend=extend,
            watermark=given.watermark,
            kind=TaskKind.VIDEO,
            options=video,
        )

    def _size(self, rules: VideoRules) -> tuple[int, int]:
        """t2v and VACE: one of the model's sizes, in the hosted words when not."""
        value = self.parameters.size
        if value is None:
            assert rules.default_size is not None
            return rules.default_size
        names = sorted(f"{w}*{h}" for w, h in rules.sizes)
        if not isinstance(value, str) or value.replace(" ", "") not in names:
            raise invalid_parameter(f"size must be in {','.join(names)}")
        width, height = value.replace(" ", "").split("*")
        return int(width), int(height)

    def _resolution(self, rules: VideoRules) -> str:
        value = self.parameters.resolution
        if value is None:
            return rules.default_tier
        if not isinstance(value, str) or value.upper() not in rules.tiers:
            raise invalid_parameter(f"resolution must be in {','.join(rules.tiers)}, got {shown(value)}")
        return value.upper()

    def _inputs(self, mode: VideoMode, take: TakeImage) -> dict[str, Any]:
        """The VideoSpec fields of the input references, checked and kept (``take``)."""
        inputs = self.input
        if mode is VideoMode.IMAGE:
            return {"first_frame": take("img_url", reference(inputs.img_url, "input.img_url"))}
        if mode is VideoMode.KEYFRAMES:
            first = take("first_frame_url", reference(inputs.first_frame_url, "input.first_frame_url"))
            last = ""
            if inputs.last_frame_url is not None or not inputs.template:  # optional with a template
                last = take("last_frame_url", reference(inputs.last_frame_url, "input.last_frame_url"))
            return {"first_frame": first, "last_frame": last}
        if mode is VideoMode.VACE:
            return self._vace(take)
        return {}

    def _vace(self, take: TakeImage) -> dict[str, Any]:
        inputs, given = self.input, self.parameters
        names = [f.value for f in VaceFunction]
        if inputs.function not in names:  # absent, or the SDK's "video-synthesis"
            raise invalid_parameter(f"input.function must be one of {', '.join(names)}, got {shown(inputs.function)}")
        function = VaceFunction(inputs.function)
        found: dict[str, Any] = {"function": function}
        options: dict[str, Any] = {}
        if function is VaceFunction.IMAGE_REFERENCE:
            refs = inputs.ref_images_url
            if not isinstance(refs, list) or not 1 <= len(refs) <= 3:
                raise invalid_parameter("input.ref_images_url must be a list of 1 to 3 images")
            kept = [
                take(f"ref_images_url[{i}]", reference(v, f"input.ref_images_url[{i}]")) for i, v in enumerate(refs)
            ]
            found["reference_images"] = tuple(kept)
            roles = given.obj_or_bg if given.obj_or_bg is not None else ["obj"] * len(kept)
            if not isinstance(roles, list) or len(roles) != len(kept) or any(r not in ("obj", "bg") for r in roles):
                raise invalid_parameter('parameters.obj_or_bg must list "obj" or "bg" for each reference image')
            options["obj_or_bg"] = tuple(roles)
        elif function is VaceFunction.VIDEO_EXTENSION:
            clips = {
                "video": ("first_clip_url", inputs.first_clip_url),
                "last_clip": ("last_clip_url", inputs.last_clip_url),
                "first_frame": ("first_frame_url", inputs.first_frame_url),
                "last_frame": ("last_frame_url", inputs.last_frame_url),
            }
            for role, (name, value) in clips.items():
                if value is not None:
                    found[role] = take(name, reference(value, f"input.{name}"))
            if not found.keys() & clips.keys():
                raise invalid_parameter("Field required: input.first_clip_url")
            if found.get("last_frame") and not found.get("first_frame"):
                raise invalid_parameter("Field required: input.first_frame_url")
        else:
            found["video"] = take("video_url", reference(inputs.video_url, "input.video_url"))
        if function is VaceFunction.VIDEO_REPAINTING:
            if given.control_condition is None:
                raise invalid_parameter("Field required: parameters.control_condition")
            options["control_condition"] = choice(given.control_condition, "control_condition", CONTROLS, "")
            options["strength"] = number(given.strength, "strength", 0.0, 1.0, VACE_DEFAULTS.strength)
        elif function is VaceFunction.VIDEO_EDIT:
            if inputs.mask_image_url is not None:
                found["mask"] = take("mask_image_url", reference(inputs.mask_image_url, "input.mask_image_url"))
            elif inputs.mask_video_url is not None:
                found["mask"] = take("mask_video_url", reference(inputs.mask_video_url, "input.mask_video_url"))
                found["mask_is_video"] = True
            else:
                raise invalid_parameter("Field required: input.mask_image_url")
            options["mask_type"] = choice(given.mask_type, "mask_type", MASK_TYPES, VACE_DEFAULTS.mask_type)
            options["expand_ratio"] = number(given.expand_ratio, "expand_ratio", 0.0, 1.0, VACE_DEFAULTS.expand_ratio)
            options["expand_mode"] = choice(given.expand_mode, "expand_mode", EXPAND_MODES, VACE_DEFAULTS.expand_mode)
        elif function is VaceFunction.VIDEO_OUTPAINTING:
            for side in SCALES:
                options[side] = number(getattr(given, side), side, 1.0, 2.0, getattr(VACE_DEFAULTS, side))
        found["vace"] = VaceOptions(**options)
        return found


def _text(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_parameter(f"{path} must be a string")
    return value.strip()


def to_video_request(body: dict[str, Any], spec: ModelSpec, take_image: TakeImage) -> GenerationRequest:
    """The routes' parser (tasks.accept.Parse): the body as a VideoRequest, converted."""
    return parse(VideoRequest, body).to_generation_request(spec, take_image)

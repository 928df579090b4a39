"""The one internal request every endpoint family is parsed into, and the parts a task's
answer is made of.

Engines and workers see only these, never a wire format. How they are stored in the tasks
table is ``tasks/records.py``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# An input image reference kept with a task: an http(s) URL (fetched when the task runs) or
# ``stored:{key}``, bytes already in storage (data: URIs and uploads, checked on submission).
STORED = "stored:"


class TaskKind(StrEnum):
    GENERATE = "generate"  # text to image: no input image
    EDIT = "edit"  # from input images: a wanx2.1-imageedit function, or instruction editing / fusion
    INTERLEAVE = "interleave"  # wan2.6-image's enable_interleave: text parts, each followed by its image
    VIDEO = "video"  # one MP4: text-to-video, image-to-video, first-and-last-frame or VACE editing (VideoSpec)


class Function(StrEnum):
    """wanx2.1-imageedit's ``input.function`` (spec 003). The values are the wire strings, so a
    member equals its string (the models file and the catalog compare them with strings)."""

    STYLIZATION_ALL = "stylization_all"
    STYLIZATION_LOCAL = "stylization_local"
    DESCRIPTION_EDIT = "description_edit"
    DESCRIPTION_EDIT_WITH_MASK = "description_edit_with_mask"
    REMOVE_WATERMARK = "remove_watermark"
    EXPAND = "expand"
    SUPER_RESOLUTION = "super_resolution"
    COLORIZATION = "colorization"
    DOODLE = "doodle"
    CONTROL_CARTOON_FEATURE = "control_cartoon_feature"


class VaceFunction(StrEnum):
    """wan(x)2.1-vace-plus's ``input.function`` (video-notes §2, VACE): what the video edit does."""

    IMAGE_REFERENCE = "image_reference"  # a video from 1-3 reference images (subjects or background)
    VIDEO_REPAINTING = "video_repainting"  # the input video's motion, redrawn (pose, depth or scribble kept)
    VIDEO_EDIT = "video_edit"  # the masked area of the input video, redrawn
    VIDEO_EXTENSION = "video_extension"  # continue from a first clip or frame (or into a last one)
    VIDEO_OUTPAINTING = "video_outpainting"  # the input video on a larger canvas, the border drawn


@dataclass(frozen=True)
class VaceOptions:
    """VACE's parameters (video-notes §2); each function reads only its own, the rest stay at
    their defaults. The ranges are the notes' [3P]/[M] ones, checked by the wire parser."""

    obj_or_bg: tuple[str, ...] = ()  # image_reference: "obj" or "bg" per reference image
    control_condition: str = ""  # video_repainting: posebodyface | posebody | depth | scribble
    strength: float = 1.0  # video_repainting: 0-1, how closely the output follows the control
    mask_type: str = "tracking"  # video_edit: tracking | fixed
    expand_ratio: float = 0.05  # video_edit: how far the mask grows around the object
    expand_mode: str = "hull"  # video_edit: hull | bbox | original
    top_scale: float = 1.0  # video_outpainting: each side grows the frame about its centre
    bottom_scale: float = 1.0
    left_scale: float = 1.0
    right_scale: float = 1.0


STRENGTH_FUNCTIONS = frozenset({Function.STYLIZATION_ALL, Function.DESCRIPTION_EDIT})  # take ``strength``
MASK_FUNCTIONS = frozenset({Function.DESCRIPTION_EDIT_WITH_MASK})  # take ``mask_image_url``


# --- options: each function's parameters (spec 003), and the messages protocol's -------------


@dataclass(frozen=True)
class Strength:
    """stylization_all, description_edit: how much of the image changes."""

    strength: float  # 0–1


@dataclass(frozen=True)
class ExpandScales:
    """expand: each side grows the image about its centre; all four at 1.5 → 1.5 times each side."""

    top_scale: float  # 1–2
    bottom_scale: float
    left_scale: float
    right_scale: float


NO_EXPANSION = ExpandScales(1.0, 1.0, 1.0, 1.0)  # every scale's default


@dataclass(frozen=True)
class Upscale:
    """super_resolution: each side times ``upscale_factor``."""

    upscale_factor: int  # 1–4


@dataclass(frozen=True)
class Doodle:
    """doodle: whether the input is a line drawing (else a doodle on a picture)."""

    is_sketch: bool


@dataclass(frozen=True)
class OutputArea:
    """Messages-protocol editing without a width*height: the output keeps the first input's
    proportions at about ``area`` pixels (a 1K/2K preset, or the model's default)."""

    area: int


@dataclass(frozen=True)
class InterleaveLimit:
    """enable_interleave: at most this many images (each after its text part)."""

    max_images: int  # 1–5


@dataclass(frozen=True)
class VideoSpec:
    """A video request's own part (``TaskKind.VIDEO``): how long, how fast, which tier, and its
    inputs by role. Input references are kept as images' are (``STORED`` or an http(s) URL).
    The model's rules were applied by the wire parser, but for ``duration``: the hosted service
    accepts any and fails the task when its model cannot make it, so the worker checks it."""

    duration: int  # seconds, as asked
    fps: int  # the model's
    resolution: str  # the tier: "480P", "720P" or "1080P" (t2v and VACE: the size's)
    audio: bool = False  # the model was asked for sound (wan2.5, wan2.6); engines may make none
    first_frame: str = ""  # i2v's img_url, kf2v's first_frame_url, VACE video_extension's first_frame_url
    last_frame: str = ""  # kf2v's last_frame_url, VACE video_extension's last_frame_url
    audio_url: str = ""  # wan2.5/2.6: the soundtrack to use (kept as given; silent engines ignore it)
    template: str = ""  # an effect preset (wanx2.1 i2v/kf2v)
    function: VaceFunction | None = None  # VACE (wan(x)2.1-vace-plus) only
    reference_images: tuple[str, ...] = ()  # VACE image_reference: 1-3 pictures
    video: str = ""  # VACE: the input clip (video_url, or video_extension's first_clip_url)
    last_clip: str = ""  # VACE video_extension's last_clip_url
    mask: str = ""  # VACE video_edit: a mask image (mask_image_url) or clip (mask_video_url)
    mask_is_video: bool = False
    vace: VaceOptions | None = None  # the function's parameters


EditOptions = Strength | ExpandScales | Upscale | Doodle  # what an engine may be given with a function
RequestOptions = EditOptions | OutputArea | InterleaveLimit | VideoSpec


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    prompt: str  # already truncated to the model's limit
    negative_prompt: str
    size: tuple[int, int] | None  # (width, height); None: follows the first input image (edits only)
    n: int
    seed: int  # image i uses seed + i
    prompt_extend: bool
    watermark: bool
    kind: TaskKind = TaskKind.GENERATE
    function: Function | None = None  # wanx2.1-imageedit's; None for every other model
    images: tuple[str, ...] = ()  # input image references, in request order
    mask: str = ""  # the mask image reference (description_edit_with_mask)
    options: RequestOptions | None = None
    partial_images: int = 0  # OpenAI's streaming: pictures of each image on its way, 0–3 (engines with steps)

    def __post_init__(self) -> None:
        # The combinations the parsers make; a request outside them is a programming error.
        no_images = self.kind in (TaskKind.GENERATE, TaskKind.VIDEO)  # a video's inputs are its VideoSpec's
        if (no_images and self.images) or (self.kind is TaskKind.EDIT and not self.images):
            raise ValueError("an edit, and it alone, has input images (interleaving may have one)")
        if self.size is None and self.kind not in (TaskKind.EDIT, TaskKind.VIDEO):
            raise ValueError("only an edit's (or an image-to-video's) size may follow its input image")
        if self.function is not None and self.kind is not TaskKind.EDIT:
            raise ValueError("a function is an edit's")
        if (self.kind is TaskKind.INTERLEAVE) != isinstance(self.options, InterleaveLimit):
            raise ValueError("an interleaved request, and it alone, has an InterleaveLimit")
        if (self.kind is TaskKind.VIDEO) != isinstance(self.options, VideoSpec):
            raise ValueError("a video request, and it alone, has a VideoSpec")

    def image_seed(self, index: int) -> int:
        return self.seed + index


# --- the parts of a task's answer, in the order they were made --------------------------------
# ``index`` is the part's place in the answer (the wire renderers sort by it).


@dataclass(frozen=True)
class ImagePart:
    index: int
    file: str  # the storage key of the PNG
    width: int
    height: int


@dataclass(frozen=True)
class TextPart:
    """A paragraph of an interleaved answer."""

    index: int
    text: str


@dataclass(frozen=True)
class ErrorPart:
    """An image that could not be made; the task still SUCCEEDS if another was."""

    index: int
    code: str
    message: str


@dataclass(frozen=True)
class VideoPart:
    """A video task's MP4 (``{task_id}/0.mp4``)."""

    index: int
    file: str  # the storage key of the MP4
    width: int
    height: int
    fps: int
    frames: int
    duration: int  # seconds: what billing charges
    audio: bool = False  # the MP4 has a sound track


ResultPart = ImagePart | TextPart | ErrorPart | VideoPart

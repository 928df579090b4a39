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


EditOptions = Strength | ExpandScales | Upscale | Doodle  # what an engine may be given with a function
RequestOptions = EditOptions | OutputArea | InterleaveLimit


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
        if (self.kind is TaskKind.GENERATE and self.images) or (self.kind is TaskKind.EDIT and not self.images):
            raise ValueError("an edit, and it alone, has input images (interleaving may have one)")
        if self.size is None and self.kind is not TaskKind.EDIT:
            raise ValueError("only an edit's size may follow its input image")
        if self.function is not None and self.kind is not TaskKind.EDIT:
            raise ValueError("a function is an edit's")
        if (self.kind is TaskKind.INTERLEAVE) != isinstance(self.options, InterleaveLimit):
            raise ValueError("an interleaved request, and it alone, has an InterleaveLimit")

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


ResultPart = ImagePart | TextPart | ErrorPart

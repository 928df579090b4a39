"""The one internal request every endpoint family is parsed into.

Engines and workers see only this, never a wire format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# An input image reference kept with a task: an http(s) URL (fetched when the task runs) or
# ``stored:{key}``, bytes already in storage (data: URIs and uploads, checked on submission).
STORED = "stored:"


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    prompt: str  # already truncated to the model's limit
    negative_prompt: str
    width: int  # 0 for edits whose size follows the input image
    height: int
    n: int
    seed: int  # image i uses seed + i
    prompt_extend: bool
    watermark: bool
    function: str = ""  # editing: wanx2.1-imageedit's function, "edit" for the other editing models
    images: tuple[str, ...] = ()  # editing: input image references, in request order
    mask: str = ""  # editing: the mask image reference (description_edit_with_mask)
    options: dict = field(default_factory=dict)  # editing: strength, *_scale, upscale_factor, is_sketch

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GenerationRequest":
        return cls(**{**data, "images": tuple(data.get("images", ()))})

    @property
    def is_edit(self) -> bool:
        return bool(self.images)

    def image_seed(self, index: int) -> int:
        return self.seed + index

"""The one internal request every endpoint family is parsed into.

Engines and workers see only this, never a wire format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    prompt: str  # already truncated to the model's limit
    negative_prompt: str
    width: int
    height: int
    n: int
    seed: int  # image i uses seed + i
    prompt_extend: bool
    watermark: bool

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GenerationRequest":
        return cls(**data)

    def image_seed(self, index: int) -> int:
        return self.seed + index

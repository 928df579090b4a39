"""Wire format of ``POST /api/v1/services/aigc/text2image/image-synthesis`` (spec 001, 002).

Request::

    {"model": "...",
     "input": {"prompt": "...", "negative_prompt": "..."},
     "parameters": {"size": "W*H", "n": 1, "seed": 42, "prompt_extend": true, "watermark": false}}

Answer: ``{"output": {"task_id": "...", "task_status": "PENDING"}, "request_id": "..."}``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from imagescope.http.params import image_count, seed_or_random
from imagescope.http.wire import RequiredText, Seed, SizeText, WireModel, parse
from imagescope.models.catalog import NEGATIVE_PROMPT_MAX, ModelSpec, parse_size
from imagescope.tasks.accept import TakeImage
from imagescope.tasks.spec import GenerationRequest

PROMPT = "What to draw. Truncated beyond the model's limit (800 characters; 2,000 for wan2.5), never refused."
NEGATIVE = f"What to keep out of the picture. Truncated beyond {NEGATIVE_PROMPT_MAX} characters."


class Text2ImageInput(WireModel):
    prompt: RequiredText = Field(description=PROMPT)
    negative_prompt: str = Field("", description=NEGATIVE)


class Text2ImageParameters(WireModel):
    size: SizeText | None = Field(None, description="width*height within the model's rules; default: the model's.")
    n: int | None = Field(None, description="How many images: 1 for qwen-image, 1–4 (default 4) for wan.")
    seed: Seed | None = Field(None, description="0–2147483647; image i uses seed + i. Default: random.")
    prompt_extend: bool = Field(True, description="Rewrite the prompt first; the result shows actual_prompt.")
    watermark: bool = Field(False, description='Draw "Qwen-Image" or "AI-generated" bottom-right.')


class Text2ImageRequest(WireModel):
    model: str = Field(description="e.g. qwen-image-plus, wan2.5-t2i-preview, wan2.2-t2i-flash")
    input: Text2ImageInput
    parameters: Text2ImageParameters = Field(default_factory=Text2ImageParameters)

    def to_generation_request(self, spec: ModelSpec) -> GenerationRequest:
        """``spec``: this request's model, looked up for the endpoint family; it takes no images."""
        given = self.parameters
        return GenerationRequest(
            model=spec.name,
            prompt=self.input.prompt[: spec.prompt_max],  # over-long prompts are truncated, never refused
            negative_prompt=self.input.negative_prompt[:NEGATIVE_PROMPT_MAX],
            size=parse_size(given.size, spec.sizes),
            n=image_count(given.n, spec),
            seed=seed_or_random(given.seed),
            prompt_extend=given.prompt_extend,
            watermark=given.watermark,
        )


def to_generation_request(body: dict[str, Any], spec: ModelSpec, take_image: TakeImage) -> GenerationRequest:
    """The route's parser (tasks.accept.Parse): the body as a Text2ImageRequest, converted."""
    return parse(Text2ImageRequest, body).to_generation_request(spec)

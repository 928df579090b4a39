"""The models file's shape: one pydantic model per engine kind, told apart by ``kind``, no other
keys allowed (``ModelsDocument``), and pydantic's complaints in the file's own words
(``explain``). What the tables mean — which engine serves what — is ``models_file.py``'s."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import ErrorDetails

# --- the file's shape ---------------------------------------------------------------------------
# Strict: TOML has types, so "256" is no tile and true no integer. An option left out is None,
# and the engine's own default applies (defaults live in one place: the engine).


class _EngineTable(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PreviewTable(_EngineTable):
    kind: Literal["preview"]


class RealEsrganTable(_EngineTable):
    kind: Literal["realesrgan"]
    variant: Literal["photo", "anime"] | None = None
    tile: int | None = Field(None, ge=1)  # the input tile's side in pixels
    precision: Literal["auto", "float32", "bfloat16"] | None = None  # auto: bfloat16 where the CPU has it natively


class DiffusersTable(_EngineTable):
    """``weights`` and ``pipeline`` pick the pipeline; the options between them go to ``DiffusersOptions``."""

    kind: Literal["diffusers"]
    weights: str = Field(description="a local diffusers weights directory")
    pipeline: str | None = None  # None: the class the weights were saved as
    dtype: str | None = None
    device: str | None = None
    steps: int | None = None
    true_cfg_scale: float | None = None
    guidance_scale: float | None = None
    strength: float | None = None
    controlnet: str | None = None
    controlnet_conditioning_scale: float | None = None  # also VACE's conditioning_scale
    fps: int | None = Field(None, ge=1)  # Wan video: the model's native frame rate (16; TI2V-5B 24)
    # The GPU fast path (engines/diffusers/fast_path.py); the engine judges the values.
    lora: str | None = None  # a local distilled-step LoRA directory, relative to the file's folder
    lora_scale: float | None = None
    scheduler_shift: float | None = None
    quantize: Literal["fp8"] | None = None
    compile: bool | None = None
    cache: Literal["first_block", "taylorseer"] | None = None
    cache_threshold: float | None = None
    cache_interval: int | None = None
    cache_warmup: int | None = None
    cfg_batch: bool | None = None
    preload: bool = False
    pipelines: dict[str, str] = Field(default_factory=dict)  # wanx2.1-imageedit function → pipeline class

    def engine_options(self) -> dict[str, Any]:
        """The options given, as ``DiffusersOptions`` takes them (``controlnet`` still as written)."""
        return self.model_dump(exclude_unset=True, exclude={"kind", "weights", "pipeline", "preload", "pipelines"})


EngineTable = Annotated[PreviewTable | RealEsrganTable | DiffusersTable, Field(discriminator="kind")]
_TABLES: dict[str, type[_EngineTable]] = {
    "preview": PreviewTable,
    "realesrgan": RealEsrganTable,
    "diffusers": DiffusersTable,
}


class ModelsDocument(BaseModel):
    """A models file; ``models`` names the catalog's models and functions: checked when binding."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    engines: dict[str, EngineTable] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)


_TYPE_NAMES = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "float_type": "a number",
    "dict_type": "a table",
}


def explain(error: ErrorDetails) -> tuple[str, str]:
    """The key and the message of one of pydantic's complaints, in the file's words."""
    loc = [str(part) for part in error["loc"]]
    kind = loc.pop(2) if loc[0] == "engines" and len(loc) > 2 else ""  # the union member: the table's kind
    key, problem, given, ctx = ".".join(loc), error["type"], error["input"], error.get("ctx", {})
    if problem == "extra_forbidden" and not kind:
        return key, "unknown section; a models file has [engines.NAME] and [models]"
    if problem == "extra_forbidden":
        options = ", ".join(name for name in _TABLES[kind].model_fields if name != "kind") or "none"
        return key, f"unknown option of a {kind} engine (options: {options})"
    if problem in ("union_tag_not_found", "union_tag_invalid"):
        what = "is required" if problem == "union_tag_not_found" else f"{given['kind']!r} is not an engine kind"
        return f"{key}.kind", f"{what}; one of {', '.join(_TABLES)}"
    if problem == "model_attributes_type":
        return key, f"must be a table ([{key}] with kind = ...)"
    if problem == "missing":
        return key, f"is required: {_TABLES[kind].model_fields[loc[-1]].description}"
    expected = (
        ctx["expected"].replace("'", "")
        if problem == "literal_error"
        else f"at least {ctx['ge']}"
        if problem == "greater_than_equal"
        else _TYPE_NAMES.get(problem) or error["msg"].removeprefix("Input should be ")
    )
    return key, f"must be {expected}, not {given!r}"

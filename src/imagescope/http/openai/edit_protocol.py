"""Wire format of OpenAI's ``POST /v1/images/edits`` (``multipart/form-data``), and how an edit
becomes the DashScope request of the endpoint family its model is served on.

Form::

    image, or image[] (repeated)  the image files, in order
    mask                          optional PNG: its fully transparent pixels (alpha 0) are the area to edit
    prompt  model  n  size  response_format
    function  strength  top_scale  bottom_scale  left_scale  right_scale  upscale_factor  is_sketch
                                  (wanx2.1-imageedit's function and its parameters, as spec 003 names them)
    seed  negative_prompt  prompt_extend  watermark     (DashScope's parameters, as extra fields)

Every value is text (``n=2``, ``watermark=true``); an empty one reads as absent.

``model``: a model that edits images — wanx2.1-imageedit and wan2.5-i2i-preview (accepted on
``image2image``), qwen-image-edit, qwen-image-edit-plus and wan2.6-image (on the messages
protocol, ``multimodal-generation``) — so the family's limits and prices apply; default
qwen-image-edit. The edit is then parsed by that family's own protocol: the uploaded files go in
as ``data:`` URIs and are checked and kept under the task as any inline input is.

- ``function`` (wanx2.1-imageedit only): default ``description_edit``, or
  ``description_edit_with_mask`` when a mask is given.
- ``mask``: only a model with an inpainting function (wanx2.1-imageedit's
  ``description_edit_with_mask``) takes one; it must be a PNG with an alpha channel and the first
  image's size, and is turned into DashScope's white-on-black mask (white = edit).
- ``n``: default 1 (OpenAI's), within the model's range.
- ``size``: ``"auto"`` or absent is the model's choice (the messages models: the first image's
  proportions); ``"WxH"`` within the model's rules, or wan2.6-image's ``"1K"``/``"2K"``. A model
  whose output follows its input (wanx2.1-imageedit) takes no other size.
- ``prompt_extend`` defaults to false, as on ``/v1/images/generations``; ``quality``, ``user``,
  ``background``, ``output_format``, ``output_compression``, ``input_fidelity`` are accepted and
  ignored. ``stream`` true is refused.

Refusals name OpenAI's field at fault (``param``). The answer is the generations one
(``answers.images_answer``).
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from imagescope.errors import NotFound, shown
from imagescope.http.image2image.protocol import to_edit_request
from imagescope.http.multimodal.protocol import to_generation_request
from imagescope.http.openai.errors import InvalidRequest, about
from imagescope.http.openai.protocol import SIZE_RE, checked_size
from imagescope.http.params import image_count
from imagescope.http.wire import Seed
from imagescope.inputs import ImageRules, decode_image
from imagescope.models.catalog import IMAGE2IMAGE, MULTIMODAL, Catalog, ModelSpec
from imagescope.tasks.accept import Parse, TakeImage
from imagescope.tasks.spec import MASK_FUNCTIONS, Function, GenerationRequest

DEFAULT_MODEL = "qwen-image-edit"
IMAGE_FIELDS = ("image", "image[]")
MASK_FIELD = "mask"
INPAINT = Function.DESCRIPTION_EDIT_WITH_MASK
_INDEX = re.compile(r"\[([0-9]+)\]")


class NotAnEditingModel(NotFound):
    """A model that is not in the catalog, or edits no images."""

    param = "model"

    def __init__(self, name: str):
        super().__init__("model_not_found", f"The model {shown(name)} does not exist or does not edit images.")


class EditForm(BaseModel):
    """The form's text fields. Lax types: every form value is text (``"2"``, ``"true"``)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    model: str = Field(DEFAULT_MODEL, description="An editing model of GET /v1/models; default qwen-image-edit.")
    prompt: str = Field("", description="The instruction; may be empty only for wanx2.1-imageedit. Truncated.")
    n: int | None = Field(None, description="How many images, within the model's range; default 1.")
    size: str | None = Field(
        None, description='"auto" (default), "WIDTHxHEIGHT", or "1K"/"2K" (wan2.6-image); not for wanx2.1-imageedit.'
    )
    response_format: Literal["url", "b64_json"] = Field("url", description="A signed URL (24 h), or the PNG in base64.")
    stream: bool = Field(False, description="Not supported: true is refused.")
    function: str | None = Field(
        None,
        description="wanx2.1-imageedit only: default description_edit, or description_edit_with_mask with a mask.",
    )
    strength: float | None = Field(None, description="stylization_all, description_edit: 0–1, default 0.5.")
    top_scale: float | None = Field(None, description="expand: 1–2, default 1.")
    bottom_scale: float | None = Field(None, description="expand: 1–2, default 1.")
    left_scale: float | None = Field(None, description="expand: 1–2, default 1.")
    right_scale: float | None = Field(None, description="expand: 1–2, default 1.")
    upscale_factor: int | None = Field(None, description="super_resolution: 1–4, default 1.")
    is_sketch: bool | None = Field(None, description="doodle: the input is a line drawing.")
    seed: Seed | None = Field(None, description="0–2147483647; image i uses seed + i. Default: random.")
    negative_prompt: str = Field("", description="What to avoid. Truncated beyond 500 characters.")
    prompt_extend: bool = Field(False, description="Rewrite the prompt first (revised_prompt). Default false here.")
    watermark: bool = Field(False, description="Draw the model's watermark bottom-right.")
    quality: str | None = Field(None, description="Accepted and ignored.")
    user: str | None = Field(None, description="Accepted and ignored.")
    background: str | None = Field(None, description="Accepted and ignored.")
    output_format: str | None = Field(None, description="Accepted and ignored: the images are PNG.")
    output_compression: str | None = Field(None, description="Accepted and ignored.")
    input_fidelity: str | None = Field(None, description="Accepted and ignored.")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data


def _form_schema() -> dict[str, Any]:
    """The form in /openapi.json: its files, and the text fields without JSON's ``null``
    (a form has none: an absent field is left out)."""
    fields: dict[str, Any] = {}
    for name, schema in EditForm.model_json_schema()["properties"].items():
        kinds = [kind for kind in schema.pop("anyOf", []) if kind.get("type") != "null"]
        fields[name] = {**schema, **(kinds[0] if kinds else {})}
        if fields[name].get("default", "") is None:
            del fields[name]["default"]
    files = {
        "image": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "The images to edit, in order (also sent as image[]).",
        },
        "mask": {
            "type": "string",
            "format": "binary",
            "description": "A PNG of the first image's size; alpha 0 = edit (inpainting models only).",
        },
    }
    return {"type": "object", "required": ["image"], "properties": {**files, **fields}}


# ``openapi_extra`` of the route, which reads the form itself.
EDIT_FORM: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _form_schema()}}}
}


def parse_form(fields: dict[str, Any]) -> EditForm:
    """The text fields, or a 400 naming the first bad one."""
    try:
        return EditForm.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else None
        raise InvalidRequest(_message(field or "body", error), field) from None


_PHRASES = {
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a text field, not a file",
}


def _message(field: str, error: Any) -> str:
    kind = error["type"]
    if kind == "out_of_range":
        return f"{field} must be in [{error['ctx']['low']}, {error['ctx']['high']}], got {shown(error['input'])}"
    if kind == "literal_error":
        return f"{field} must be {error['ctx']['expected']}, got {shown(error['input'])}"
    if kind == "string_type":
        return f"{field} {_PHRASES[kind]}"
    return f"{field} {_PHRASES.get(kind, 'is invalid')}, got {shown(error['input'])}"


def edit_endpoint(catalog: Catalog, name: str) -> tuple[ModelSpec, str]:
    """The model, and the family it edits on: image2image where it is served (its limits and
    prices), else the messages protocol's."""
    spec = catalog.models.get(name)
    if spec is not None and spec.input_rules is not None:
        for endpoint in (IMAGE2IMAGE, MULTIMODAL):
            if endpoint in spec.endpoints:
                return spec, endpoint
    raise NotAnEditingModel(name)


@dataclass(frozen=True)
class EditPlan:
    """What the form asks of its model's family, once checked."""

    function: Function | None  # wanx2.1-imageedit's; None for the models without functions
    size: str | None  # the family's parameters.size; None: the model's choice ("auto")
    n: int


def check_edit(form: EditForm, spec: ModelSpec, images: int, masked: bool, catalog: Catalog) -> EditPlan:
    """The rules OpenAI's fields add to the family's — prompt, image count, function and mask —
    and n and size in OpenAI's words (the family checks them again)."""
    if form.stream:
        raise InvalidRequest("stream is not supported: leave it out or set it to false.", "stream")
    if not spec.images_min <= images <= spec.images_max:
        raise InvalidRequest(f"{spec.name} takes {_range(spec)}, got {images}.", "image")
    function = _function(form, spec, masked)
    if masked and function not in MASK_FUNCTIONS:
        inpainters = sorted(s.name for s in catalog.models.values() if s.functions & MASK_FUNCTIONS)
        how = f" with function {function}" if function else ""
        raise InvalidRequest(
            f"{spec.name} cannot inpaint{how}, so it takes no mask: leave mask out, or use "
            f"{' or '.join(inpainters) or 'an inpainting model'} with function {INPAINT}.",
            MASK_FIELD,
        )
    if function in MASK_FUNCTIONS and not masked:
        raise InvalidRequest(
            f"Field required: mask (function {function} edits the mask's transparent area).", MASK_FIELD
        )
    if function is None and not form.prompt.strip():
        raise InvalidRequest("Field required: prompt", "prompt")
    n = 1 if form.n is None else form.n  # OpenAI's default, not the wan models' 4
    with about("n"):
        image_count(n, spec)
    return EditPlan(function, _size(form, spec), n)


def _range(spec: ModelSpec) -> str:
    if spec.images_min == spec.images_max:
        return f"{spec.images_min} image" + ("s" if spec.images_min > 1 else "")
    return f"{spec.images_min} to {spec.images_max} images"


def _function(form: EditForm, spec: ModelSpec, masked: bool) -> Function | None:
    if not spec.functions:
        if form.function is not None:
            raise InvalidRequest(f"function is wanx2.1-imageedit's: {spec.name} takes none.", "function")
        return None
    name = form.function or (INPAINT if masked else Function.DESCRIPTION_EDIT)
    if name not in spec.functions:
        raise InvalidRequest(
            f"function must be one of {', '.join(sorted(spec.functions))}, got {shown(name)}", "function"
        )
    return Function(name)


def _size(form: EditForm, spec: ModelSpec) -> str | None:
    """The family's ``parameters.size``: None for "auto" (or absent), the model's choice."""
    if form.size is None or form.size.strip() == "auto":
        return None
    if spec.functions:  # the image2image protocol: the output follows the input (and function)
        raise InvalidRequest(
            f'{spec.name} makes images the size of the input (or as its function grows them): size must be "auto" '
            f"or left out, got {shown(form.size)}",
            "size",
        )
    presets = [name for name, _ in spec.size_presets]
    if form.size in presets:
        return form.size
    match = SIZE_RE.match(form.size)
    if match is None:
        named = "".join(f', "{name}"' for name in presets)
        raise InvalidRequest(f'size must be "auto"{named} or WIDTHxHEIGHT, got {shown(form.size)}', "size")
    width, height = checked_size(match, spec)
    return f"{width}*{height}"


def data_uri(data: bytes) -> str:
    """An uploaded file as the inline input every family takes (its format is sniffed, not named)."""
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def white_on_black(mask: bytes, first_image: bytes, rules: ImageRules) -> bytes:
    """OpenAI's mask (alpha 0 = edit) as DashScope's: a PNG, white = edit, black = keep, after
    checking it against the first image's size (both upright, as the worker reads them)."""
    with about("image", "image: "):
        image = decode_image(first_image, rules)
    with about(MASK_FIELD, "mask: "):
        given = decode_image(mask, rules, mode="RGBA")
    if given.format != "PNG" or not given.has_alpha:
        raise InvalidRequest(
            "mask must be a PNG with an alpha channel: its fully transparent pixels (alpha 0) mark the area to edit.",
            MASK_FIELD,
        )
    if given.image.size != image.image.size:
        raise InvalidRequest(
            f"mask must be the same size as image: mask {given.width}x{given.height}, "
            f"image {image.width}x{image.height}",
            MASK_FIELD,
        )
    white = given.image.getchannel("A").point(lambda alpha: 255 if alpha == 0 else 0)
    buffer = io.BytesIO()
    white.save(buffer, "PNG")
    return buffer.getvalue()


def family_body(
    form: EditForm, plan: EditPlan, spec: ModelSpec, endpoint: str, images: list[str], mask: str
) -> dict[str, Any]:
    """The edit as the DashScope body of ``endpoint`` (``images``, ``mask``: data: URIs)."""
    function = plan.function
    parameters: dict[str, Any] = {
        "n": plan.n,
        "size": plan.size,
        "seed": form.seed,
        "prompt_extend": form.prompt_extend,
        "watermark": form.watermark,
    }
    if endpoint == IMAGE2IMAGE:
        inputs: dict[str, Any] = {"prompt": form.prompt, "negative_prompt": form.negative_prompt}
        if function is None:
            inputs["images"] = images
        else:
            inputs.update(function=function.value, base_image_url=images[0], mask_image_url=mask or None)
            options = ("strength", "top_scale", "bottom_scale", "left_scale", "right_scale", "upscale_factor")
            parameters.update({name: getattr(form, name) for name in (*options, "is_sketch")})
        return {"model": spec.name, "input": inputs, "parameters": parameters}
    content = [{"text": form.prompt}, *({"image": uri} for uri in images)]
    parameters["negative_prompt"] = form.negative_prompt
    return {"model": spec.name, "input": {"messages": [{"role": "user", "content": content}]}, "parameters": parameters}


def family_parser(endpoint: str, images: int) -> Parse:
    """The family's own parser (tasks.accept.Parse), its refusals said of OpenAI's fields: an
    input image's of ``image`` (which one, when there are several), the mask's of ``mask``."""
    convert: Parse = to_edit_request if endpoint == IMAGE2IMAGE else partial(to_generation_request, streaming=False)

    def parse(body: dict[str, Any], spec: ModelSpec, take: TakeImage) -> GenerationRequest:
        def take_named(name: str, reference: str) -> str:
            if name == "mask_image_url":
                with about(MASK_FIELD, "mask: "):
                    return take(name, reference)
            index = _INDEX.search(name)  # "images[2]" (base_image_url: the first)
            which = int(index[1]) + 1 if index else 1
            with about("image", f"image {which} of {images}: " if images > 1 else "image: "):
                return take(name, reference)

        with about(None, fields=EditForm.model_fields):
            return convert(body, spec, take_named)

    return parse

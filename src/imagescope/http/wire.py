"""Wire formats as pydantic models, with the hosted service's own error messages.

Each endpoint family's ``protocol.py`` declares its request body as ``WireModel``s: strict JSON
types (``"5"`` is not a number, ``true`` not an integer), unknown fields ignored as the hosted
API ignores them, ``null`` read as absent. ``parse`` turns the first validation error into the
message the service has always answered (``Field required: input.prompt``, ``parameters.n must be
an integer, got 'x'``, ``parameters.seed must be in [0, 2147483647], got -1``) — never pydantic's
own words. Rules that depend on the model (its sizes, n range, prompt limit) are applied when the
request converts itself to the internal request.

The routes read their bodies themselves (the async header and the model come first), so FastAPI
does not see the models: ``request_body`` documents one in ``/openapi.json`` all the same, and
``install`` adds the models' schemas to the document's components.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from imagescope.errors import invalid_parameter, shown
from imagescope.models.catalog import SEED_MAX

REF = "#/components/schemas/{model}"
_components: dict[str, Any] = {}  # schemas of the documented bodies, by name


class WireModel(BaseModel):
    """A JSON object of a request body."""

    model_config = ConfigDict(extra="allow", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # The service has always read ``"seed": null`` as no seed, and a required ``null`` as missing.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


def _within(low: float, high: float) -> AfterValidator:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise PydanticCustomError("out_of_range", "must be in [{low}, {high}]", {"low": low, "high": high})
        return value

    return AfterValidator(check)


def _not_empty(value: str) -> str:
    if value == "":
        raise PydanticCustomError("missing", "Field required")
    return value


M = TypeVar("M", bound=WireModel)
RequiredText = Annotated[str, AfterValidator(_not_empty)]  # a string that must not be empty


def _size_text(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid_parameter(f"parameters.size must be a string of the form width*height, got {shown(value)}")
    return value


# ``"width*height"`` (or a preset name such as ``"1K"``); its rules are the model's (models.catalog).
SizeText = Annotated[str, PlainValidator(_size_text), WithJsonSchema({"type": "string", "examples": ["1024*1024"]})]
Seed = Annotated[int, _within(0, SEED_MAX)]  # image i of a task is drawn with seed + i


def checked_later(schema: dict[str, Any]) -> WithJsonSchema:
    """Documents a field typed ``Any`` whose value the conversion checks itself — for parameters
    that only some requests read (the hosted API ignores them elsewhere)::

        strength: Annotated[Any, checked_later({"type": "number"})] = None
    """
    return WithJsonSchema(schema)


_PHRASES = {
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "string_type": "must be a string",
    "list_type": "must be a list",
}
_PHRASES_WITH_VALUE = {
    "int_type": "must be an integer",
    "bool_type": "must be a boolean",
    "float_type": "must be a number",
}


def _message(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "missing":
        return f"Field required: {where}"
    if kind == "out_of_range":
        ctx = error["ctx"]
        return f"{where} must be in [{ctx['low']}, {ctx['high']}], got {shown(error['input'])}"
    if kind in _PHRASES:
        return f"{where} {_PHRASES[kind]}"
    if kind in _PHRASES_WITH_VALUE:
        return f"{where} {_PHRASES_WITH_VALUE[kind]}, got {shown(error['input'])}"
    return f"{where} is invalid, got {shown(error['input'])}"


def parse(model: type[M], body: dict[str, Any]) -> M:
    """``body`` as ``model``, or the request's 400 InvalidParameter naming its first bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise invalid_parameter(_message(exc.errors(include_url=False)[0])) from None


def request_body(model: type[BaseModel], description: str = "") -> dict[str, Any]:
    """``openapi_extra`` of a route that reads ``model`` from its JSON body itself."""
    schema = model.model_json_schema(ref_template=REF)
    _components.update(schema.pop("$defs", {}))
    _components[model.__name__] = schema
    body = {"content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}, "required": True}
    if description:
        body["description"] = description
    return {"requestBody": body}


def response_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A ``responses`` entry documenting a success body the route builds itself."""
    schema = model.model_json_schema(ref_template=REF)
    _components.update(schema.pop("$defs", {}))
    _components[model.__name__] = schema
    return {"content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}}


def header(name: str, description: str, required: bool = False) -> dict[str, Any]:
    """An ``openapi_extra`` part documenting a header the route reads itself (``enable`` turns it on)."""
    schema = {"type": "string", "enum": ["enable"]} if required else {"type": "string"}
    return {
        "parameters": [
            {"in": "header", "name": name, "required": required, "schema": schema, "description": description}
        ]
    }


def documented(*parts: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` made of ``request_body`` and ``header`` parts."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            merged[key] = merged.get(key, []) + value if key == "parameters" else value
    return merged


ASYNC = header("X-DashScope-Async", "Required: asynchronous calls only.", required=True)
OSS_RESOLVE = header("X-DashScope-OssResourceResolve", "enable: oss:// inputs (uploads) are resolved.")
SSE = header("X-DashScope-Sse", "enable: the answer is a stream of server-sent events.")


def install(app: FastAPI) -> None:
    """``app.openapi()`` with the schemas of the bodies the routes document themselves."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            document.setdefault("components", {}).setdefault("schemas", {}).update(_components)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


__all__ = [
    "ASYNC",
    "OSS_RESOLVE",
    "SSE",
    "RequiredText",
    "Seed",
    "SizeText",
    "WireModel",
    "checked_later",
    "documented",
    "header",
    "install",
    "parse",
    "request_body",
    "response_schema",
]

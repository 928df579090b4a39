"""Request bodies are capped at what the largest valid request of their route needs.

A body that says it is larger (``Content-Length``) is refused before a byte of it is read; a
chunked one as soon as it passes the cap. The answer is the hosted 413 body
(``BadRequest.TooLarge``); uploads answer as the object store does (400 ``EntityTooLarge``).

The largest valid request of an endpoint family carries its models' most input images as
``data:`` URIs (base64: 4/3 of the 10 MB an image may have), plus room for the text:
wan2.6-image's four images make about 56 MB on ``multimodal-generation``. Routes that take no
images (text2image, tasks, admin) are capped at ``TEXT_BODY_BYTES``. OpenAI's
``/v1/images/edits`` carries the images of the families its models are served on (image2image,
multimodal-generation) as raw bytes, fewer than their data: URIs: it has the larger family's cap.
``IMAGESCOPE_MAX_BODY_BYTES`` replaces the computed cap of the image-carrying routes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagescope.errors import Refused, ServiceError
from imagescope.http.errors import HttpError, status_of
from imagescope.models.catalog import IMAGE2IMAGE, MULTIMODAL, Catalog
from imagescope.storage.uploads import MAX_UPLOAD_BYTES
from imagescope.tasks.spec import MASK_FUNCTIONS

TEXT_BODY_BYTES = 1024 * 1024  # prompts are truncated at 2,100 characters: 1 MiB is ample
FORM_OVERHEAD = 64 * 1024  # an upload form's other fields and boundaries
SERVICES_PREFIX = "/api/v1/services/aigc/"
UPLOAD_PATH = "/uploads/oss"
OPENAI_EDITS_PATH = "/v1/images/edits"  # multipart: the same images as raw bytes
DATA_URI_PREFIX = 48  # "data:image/jpeg;base64," and JSON quoting, with room


def too_large() -> HttpError:
    return HttpError(413, "BadRequest.TooLarge", "The request body is too large.")


def upload_too_large() -> Refused:
    return Refused("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its cap. An HTTPException, so that
    FastAPI's own body parsing lets it through rather than calling it a parse error."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(status_of(error), error.message)
        self.error = error


def data_uri_bytes(image_bytes: int) -> int:
    """A ``data:`` URI of an image of ``image_bytes``, with 1/32 room for JSON escapes of ``/``."""
    encoded = 4 * math.ceil(image_bytes / 3)
    return encoded + encoded // 32 + DATA_URI_PREFIX


def family_caps(catalog: Catalog) -> dict[str, int]:
    """Each endpoint family's cap: its largest valid request (inline images plus text)."""
    caps: dict[str, int] = {}
    for spec in catalog.models.values():
        images = spec.images_max + (1 if spec.functions & MASK_FUNCTIONS else 0)  # the mask is an image too
        need = TEXT_BODY_BYTES + (images * data_uri_bytes(spec.input_rules.max_bytes) if spec.input_rules else 0)
        for endpoint in spec.endpoints:
            caps[endpoint] = max(caps.get(endpoint, TEXT_BODY_BYTES), need)
    return caps


@dataclass(frozen=True)
class BodyCaps:
    families: dict[str, int]  # endpoint family → bytes
    override: int = 0  # IMAGESCOPE_MAX_BODY_BYTES: replaces the image-carrying routes' caps

    def for_path(self, path: str) -> tuple[int, ServiceError]:
        if path == UPLOAD_PATH:
            return MAX_UPLOAD_BYTES + FORM_OVERHEAD, upload_too_large()
        if path == OPENAI_EDITS_PATH:
            families = [IMAGE2IMAGE, MULTIMODAL]
        elif path.startswith(SERVICES_PREFIX):
            families = [path[len(SERVICES_PREFIX) :].partition("/")[0]]
        else:
            return TEXT_BODY_BYTES, too_large()
        cap = max(self.families.get(family, TEXT_BODY_BYTES) for family in families)
        if self.override and cap > TEXT_BODY_BYTES:
            cap = self.override
        return cap, too_large()


class BodyLimit:
    """Plain ASGI middleware: one job, the cap of ``BodyCaps`` on every request body."""

    def __init__(self, app: ASGIApp, caps: BodyCaps):
        self.app = app
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap, error = self.caps.for_path(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and (len(declared) > 18 or int(declared) > cap):
            raise error  # before the app: RequestIds answers it, the body is never read
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(error)
            return message

        await self.app(scope, counted, send)

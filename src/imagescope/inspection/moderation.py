"""The moderation-endpoint inspector: asks an OpenAI-compatible ``/moderations`` endpoint.

    POST {url}  {"model": "omni-moderation-latest", "input": [...]}
    →  {"results": [{"flagged": false, ...}, ...]}

Texts go as a list of strings (one result each: every moderation model takes them); an image
goes alone, as OpenAI's omni-moderation takes one, ``[{"type": "image_url", "image_url":
{"url": "data:image/png;base64,..."}}]``, shrunk to at most ``IMAGE_SIDE`` pixels a side so
that a 2048*2048 output does not become a 10 MB request. Any result ``flagged``: the input may
not pass (``InspectionFailed``).

When the endpoint itself fails — no answer within the timeout, a status that is not 2xx, an
answer that is not a moderation result — the inspector cannot say. Failing open, it passes
and logs a warning. Failing closed (the default), it raises ``InspectionUnavailable``: the
caller hears of the service's trouble, never that its content was judged inappropriate.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from PIL import Image

from imagescope.inspection import InspectionFailed, InspectionUnavailable
from imagescope.tasks.png import encode_png

log = logging.getLogger(__name__)

IMAGE_SIDE = 1024  # images are sent at most this many pixels a side
DEFAULT_MODEL = "omni-moderation-latest"


def moderations_url(url: str) -> str:
    """``url`` as configured (``http://host/v1`` or the full ``.../moderations``) → where to POST."""
    url = url.rstrip("/")
    return url if url.endswith("/moderations") else url + "/moderations"


def image_item(image: Image.Image) -> dict[str, Any]:
    """An image as omni-moderation's multimodal input takes it: a PNG data URI."""
    picture = image.convert("RGB")
    if max(picture.size) > IMAGE_SIDE:
        picture.thumbnail((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BILINEAR)
    data = base64.b64encode(encode_png(picture)).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


def flagged(answer: Any) -> bool:
    """Whether a moderation answer flags anything; ValueError when it is not one."""
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or not results:
        raise ValueError("the answer has no results")
    if not all(isinstance(result, dict) and isinstance(result.get("flagged"), bool) for result in results):
        raise ValueError("a result has no flagged true or false")
    return any(result["flagged"] for result in results)


class ModerationEndpoint:
    """An OpenAI-compatible moderation endpoint (module docstring). Thread-safe: the API's
    request threads and the workers share one, and one connection pool."""

    def __init__(
        self,
        url: str,
        api_key: str = "",
        model: str = DEFAULT_MODEL,
        timeout_s: float = 10.0,
        fail_open: bool = False,
    ):
        self.url = moderations_url(url)
        self.model = model
        self.fail_open = fail_open
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s)

    def check_text(self, texts: Sequence[str]) -> None:
        given = [text for text in texts if text.strip()]
        if given:
            self._ask(given)

    def check_image(self, image: Image.Image) -> None:
        self._ask([image_item(image)])

    def _ask(self, items: list[Any]) -> None:
        try:
            response = self._client.post(self.url, json={"model": self.model, "input": items})
            response.raise_for_status()
            refused = flagged(response.json())
        except (httpx.HTTPError, ValueError) as exc:  # ValueError: not JSON, or not a moderation answer
            if self.fail_open:
                log.warning("moderation endpoint %s failed (%s): passed unchecked (failing open)", self.url, exc)
                return
            log.error("moderation endpoint %s failed (%s): refused (failing closed)", self.url, exc)
            raise InspectionUnavailable(str(exc)) from exc
        if refused:
            raise InspectionFailed("flagged by the moderation endpoint")

    def close(self) -> None:
        self._client.close()

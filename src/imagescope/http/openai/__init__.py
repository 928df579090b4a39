"""The OpenAI Images API at ``/v1`` (``POST /v1/images/generations``, ``GET /v1/models``), with
the same keys, accounts, limits and billing as the DashScope routes: each call is an ordinary
task of the caller's account, waited for. ``protocol.py`` is OpenAI's wire format, ``errors.py``
its error envelope (``{"error": {message, type, param, code}}``), which every ``/v1`` path answers."""

from __future__ import annotations

PREFIX = "/v1/"


def speaks_openai(path: str) -> bool:
    """Whether a request path is the OpenAI API's (its errors leave in OpenAI's envelope)."""
    return path.startswith(PREFIX) or path == PREFIX.rstrip("/")

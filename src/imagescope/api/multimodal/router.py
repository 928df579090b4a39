"""``multimodal-generation`` (synchronous, SSE) and ``image-generation`` (asynchronous): the messages protocol."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""HTTP routes, one folder per DashScope endpoint family: ``router.py`` (the route)
and ``protocol.py`` (the wire format)."""

from fastapi import Request

from imagescope.errors import synchronous_call_unsupported


def reply(request: Request, body: dict) -> dict:
    """A success body: every response carries the request's ``request_id``."""
    return {"request_id": request.state.request_id, **body}


def require_async(request: Request) -> None:
    """Task-creating endpoints answer only ``X-DashScope-Async: enable`` (spec 001–004)."""
    if request.headers.get("x-dashscope-async", "").lower() != "enable":
        raise synchronous_call_unsupported()

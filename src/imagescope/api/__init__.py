"""HTTP routes, one folder per DashScope endpoint family: ``router.py`` (the route)
and ``protocol.py`` (the wire format)."""

from fastapi import Request


def reply(request: Request, body: dict) -> dict:
    """A success body: every response carries the request's ``request_id``."""
    return {"request_id": request.state.request_id, **body}

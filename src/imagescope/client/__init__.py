"""A small typed HTTP client of the DashScope image API, for the ``imagescope`` client commands.

It speaks to any server of the API: ours (which also answers the long-poll ``?wait=``) or the
hosted one (which ignores it, so waiting falls back to polling)."""

from imagescope.client.api import (
    DEFAULT_BASE_URL,
    TERMINAL,
    ApiError,
    Client,
    WaitTimeout,
)

__all__ = ["DEFAULT_BASE_URL", "TERMINAL", "ApiError", "Client", "WaitTimeout"]

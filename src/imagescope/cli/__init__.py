"""The ``imagescope`` command.

- ``server.py``: running a server and what only its operator does: ``serve``, ``keys``, ``accounts``,
  ``workspaces``, ``usage`` (they read the data directory and the database directly).
- ``client.py``: ``generate`` and ``edit``, and ``tasks.py``: ``tasks list|show|cancel|wait``, which
  talk HTTP to any server of the API (ours or the hosted one), like any other client.

Contract other tools rely on: ``imagescope keys create`` prints the new key as the
last line of its output.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(help="imagescope: a self-hosted DashScope image API.", no_args_is_help=True)
# Piped output (scripts, tests) gets whole tables rather than columns cut to 80 characters.
console = Console(width=None if sys.stdout.isatty() else 200)

# The commands register themselves on ``app`` when their modules are imported.
from imagescope.cli import client, server, tasks  # noqa: E402

__all__ = ["app", "client", "console", "server", "tasks"]

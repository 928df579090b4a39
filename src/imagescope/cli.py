"""The ``imagescope`` command: ``serve`` and ``keys create|list|revoke``.

Contract other tools rely on: ``imagescope keys create`` prints the new key as the
last line of its output.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from .accounts import DEFAULT_ACCOUNT, Accounts
from .config import Settings
from .db import make_engine

app = typer.Typer(help="imagescope: a self-hosted DashScope image API.", no_args_is_help=True)
keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")
console = Console()


def _accounts(settings: Settings) -> Accounts:
    return Accounts(make_engine(settings.db_url))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(None, help="Concurrent tasks (default: IMAGESCOPE_WORKERS or 2)."),
) -> None:
    """Start the API server (base URL for clients: http://HOST:PORT/api/v1)."""
    import uvicorn

    from .app import create_app

    settings = Settings.from_env()
    if workers:
        settings = dataclasses.replace(settings, workers=workers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    accounts = _accounts(settings)
    if not accounts.has_active_keys():
        key, _ = accounts.create_key(DEFAULT_ACCOUNT, name="first-start")
        console.print(f"No API key existed; created one for account '{DEFAULT_ACCOUNT}':")
        print(key, flush=True)
    console.print(f"data directory: {settings.data_dir}")
    console.print(f"base URL: http://{host}:{port}/api/v1")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@keys.command("create")
def keys_create(
    name: str = typer.Option("", help="A label to tell keys apart."),
    account: str = typer.Option(DEFAULT_ACCOUNT, help="Account that owns the key (created if new)."),
) -> None:
    """Create an API key; it is shown once, as the last line of the output."""
    key, info = _accounts(Settings.from_env()).create_key(account, name)
    console.print(f"Created key {info.id} ({info.prefix}…) for account '{info.account}'.")
    print(key)


@keys.command("list")
def keys_list() -> None:
    """List API keys (never the keys themselves)."""
    table = Table("id", "account", "name", "key", "created", "state")
    for k in _accounts(Settings.from_env()).list_keys():
        created = datetime.fromtimestamp(k.created_at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(k.id), k.account, k.name, k.prefix + "…", created,
                      "[red]revoked[/red]" if k.revoked else "[green]active[/green]")
    console.print(table)


@keys.command("revoke")
def keys_revoke(key_id: int = typer.Argument(..., help="The key's id, from `keys list`.")) -> None:
    """Revoke an API key: it answers 401 InvalidApiKey from then on."""
    if not _accounts(Settings.from_env()).revoke(key_id):
        console.print(f"No active key with id {key_id}.")
        raise typer.Exit(1)
    console.print(f"Revoked key {key_id}.")

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
accounts_app = typer.Typer(help="Manage accounts: limits, free quota, free-quota-only.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
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


@accounts_app.command("create")
def accounts_create(name: str) -> None:
    """Create an account (activated now: its free quota counts from today)."""
    info = _accounts(Settings.from_env()).create_account(name)
    console.print(f"Account '{info.name}' (id {info.id}).")


@accounts_app.command("list")
def accounts_list() -> None:
    """Accounts with their overrides of limits and free quota."""
    table = Table("id", "account", "activated", "free only", "overrides (model: rps / concurrency / free quota)")
    for a in _accounts(Settings.from_env()).list_accounts():
        overrides = "; ".join(
            f"{m}: {v['submit_rps'] or '-'} / {v['concurrency'] or '-'} / {v['free_quota'] if v['free_quota'] is not None else '-'}"
            for m, v in sorted(a.settings.items())
        )
        table.add_row(str(a.id), a.name, datetime.fromtimestamp(a.activated_at).strftime("%Y-%m-%d"),
                      "yes" if a.free_only else "no", overrides or "catalog defaults")
    console.print(table)


@accounts_app.command("set-limits")
def accounts_set_limits(
    account: str,
    model: str = typer.Option("*", help="Model name; * for every model."),
    rps: int = typer.Option(None, help="Task submissions per second."),
    concurrency: int = typer.Option(None, help="Tasks RUNNING at once."),
) -> None:
    """Set an account's submission rate and concurrency limits."""
    _accounts(Settings.from_env()).set_model_values(account, model, submit_rps=rps, concurrency=concurrency)
    console.print(f"Limits of '{account}' for {model} set.")


@accounts_app.command("set-quota")
def accounts_set_quota(
    account: str,
    images: int = typer.Option(..., help="Free images for the model."),
    model: str = typer.Option("*", help="Model name; * for every model."),
) -> None:
    """Set an account's free quota (images per model)."""
    _accounts(Settings.from_env()).set_model_values(account, model, free_quota=images)
    console.print(f"Free quota of '{account}' for {model}: {images} images.")


@accounts_app.command("free-only")
def accounts_free_only(account: str, enable: bool = typer.Option(True, "--on/--off")) -> None:
    """Use only the free quota: refuse requests once it is used up or expired, never charge."""
    _accounts(Settings.from_env()).set_free_only(account, enable)
    console.print(f"Free quota only for '{account}': {'on' if enable else 'off'}.")

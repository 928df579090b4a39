"""Running a server, and what only its operator does: ``serve``, ``worker``, ``migrate``, ``keys``,
``accounts`` (webhook secrets too), ``workspaces``, ``usage``. They read the data directory and the database
directly; a database they cannot use (unreachable, out of date) stops them with one line, exit status 2.

``serve`` is the API (with worker threads, unless ``--workers 0``); ``worker`` runs tasks and serves no
HTTP, one per GPU on as many machines as the shared database and storage reach. SIGTERM stops either
without losing a task: a running task goes back to the queue at once, for another process to run."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from imagescope.accounting.accounts import DEFAULT_ACCOUNT, Accounts, UnknownWorkspace, WorkspaceExists
from imagescope.accounting.usage import GRANULARITIES, usage_report
from imagescope.cli import app, console
from imagescope.config import Settings, SettingsError
from imagescope.db import Database, DatabaseUnusable, masked, migrate_database, open_database
from imagescope.tasks.callbacks import WebhookSecrets

keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")
accounts_app = typer.Typer(help="Manage accounts: limits, free quota, free-quota-only.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
workspaces_app = typer.Typer(help="Manage workspaces (X-DashScope-WorkSpace).", no_args_is_help=True)
app.add_typer(workspaces_app, name="workspaces")


def _settings() -> Settings:
    """The environment's settings; a bad value stops the command with one line naming it."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _database(settings: Settings) -> Database:
    """The configured database at this release's schema (the embedded SQLite one upgraded in
    place); one that cannot be used stops the command with one line naming it."""
    with _refused_at_start():
        return open_database(settings.db_url)


def _accounts(settings: Settings) -> Accounts:
    return Accounts(_database(settings))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(None, min=0, help="Concurrent tasks (default: IMAGESCOPE_WORKERS or 2)."),
    models: Path = typer.Option(
        None,
        "--models",
        metavar="FILE",
        help="Models file (TOML): the engine behind each model (default: IMAGESCOPE_MODELS_FILE, "
        "else the preview engine; see docs/models.md).",
    ),
) -> None:
    """Start the API server (base URL for clients: http://HOST:PORT/api/v1)."""
    import uvicorn

    settings = _starting(workers, models)  # --workers 0 too: accept tasks, run none
    from imagescope.app import create_app

    with _refused_at_start():
        application = create_app(settings)
    accounts: Accounts = application.state.services.accounts
    if not accounts.has_active_keys():
        key, _ = accounts.create_key(DEFAULT_ACCOUNT, name="first-start")
        console.print(f"No API key existed; created one for account '{DEFAULT_ACCOUNT}':")
        print(key, flush=True)
    console.print(f"data directory: {settings.data_dir}")
    console.print(f"base URL: http://{host}:{port}/api/v1")
    # SIGTERM: uvicorn stops taking requests and waits for the open ones (a long-poll, a synchronous
    # call) at most this long; then the lifespan's end gives the running tasks back to the queue.
    uvicorn.run(application, host=host, port=port, log_level="info", timeout_graceful_shutdown=GRACEFUL_S)


GRACEFUL_S = 10


def _starting(workers: int | None, models: Path | None) -> Settings:
    """What ``serve`` and ``worker`` do first: glibc's allocator tuned (models run faster), the
    settings read (a bad variable stops the start at once) with the command's options over
    them, logging, and the database checked reachable and at this release's schema, all
    before any model loads."""
    from imagescope.ops.allocator import reexec_tuned

    reexec_tuned(["-m", "imagescope", *sys.argv[1:]])
    settings = _settings()
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    if models:
        settings = settings.model_copy(update={"models_file": models})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _database(settings).dispose()
    return settings


@contextmanager
def _refused_at_start() -> Iterator[None]:
    """A models file, storage, engine or database the process cannot start with: one line, exit 2."""
    from imagescope.engines import EngineConfigError
    from imagescope.models.models_file import ModelsFileError
    from imagescope.storage.base import StorageSetupError

    try:
        yield
    except (DatabaseUnusable, ModelsFileError, StorageSetupError, EngineConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def worker(
    concurrency: int = typer.Option(None, min=1, help="Tasks run at once (default: IMAGESCOPE_WORKERS or 2)."),
    models: Path = typer.Option(
        None, "--models", metavar="FILE", help="Models file (TOML) (default: IMAGESCOPE_MODELS_FILE)."
    ),
    device: str = typer.Option(
        None, help="Run every diffusers engine of the models file on this device (cuda, cuda:N, cpu)."
    ),
) -> None:
    """Run tasks from the shared database, serving no HTTP (one process per GPU); SIGTERM gives
    a running task back to the queue and exits."""
    settings = _starting(concurrency, models)
    from imagescope.wiring import build_services

    with _refused_at_start():
        services = build_services(settings, device=device)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    services.start_worker()
    if services.listener is not None:
        services.listener.listening.wait(10)  # "ready" once NOTIFY reaches it (else it polls meanwhile)
    console.print(f"worker ready: {settings.workers} at once, database {masked(settings.db_url)}")
    while not stopping.wait(1.0):
        pass
    console.print("stopping: running tasks go back to the queue")
    services.stop()
    services.db.dispose()


@app.command()
def migrate() -> None:
    """Upgrade the database (IMAGESCOPE_DATABASE_URL, else the data directory's SQLite) to this
    release's schema; run it once, before `serve` or `worker` starts on a shared database."""
    settings = _settings()
    with _refused_at_start():
        done = migrate_database(settings.db_url)
    console.print(f"database: {masked(settings.db_url)}")
    if done.recognised:
        console.print(f"recognised as revision {done.before} (made before migrations: no version table)")
    if done.before == done.after:
        console.print(f"schema already at revision {done.after}: nothing to do")
    else:
        before = f"revision {done.before}" if done.before else "an empty database"
        console.print(f"schema upgraded from {before} to revision {done.after}")


@keys.command("create")
def keys_create(
    name: str = typer.Option("", help="A label to tell keys apart."),
    account: str = typer.Option(DEFAULT_ACCOUNT, help="Account that owns the key (created if new)."),
    workspace: str = typer.Option(None, help="Workspace id or name (default: the account's default)."),
) -> None:
    """Create an API key; it is shown once, as the last line of the output."""
    try:
        key, info = _accounts(_settings()).create_key(account, name, workspace)
    except UnknownWorkspace as exc:
        console.print(str(exc))
        raise typer.Exit(1) from None
    console.print(f"Created key {info.id} ({info.prefix}…) for account '{info.account}', workspace {info.workspace}.")
    print(key)


@keys.command("list")
def keys_list() -> None:
    """List API keys (never the keys themselves)."""
    table = Table("id", "account", "workspace", "name", "key", "created", "state")
    for k in _accounts(_settings()).list_keys():
        created = datetime.fromtimestamp(k.created_at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            str(k.id),
            k.account,
            k.workspace,
            k.name,
            k.prefix + "…",
            created,
            "[red]revoked[/red]" if k.revoked else "[green]active[/green]",
        )
    console.print(table)


@keys.command("revoke")
def keys_revoke(key_id: int = typer.Argument(..., help="The key's id, from `keys list`.")) -> None:
    """Revoke an API key: it answers 401 InvalidApiKey from then on."""
    if not _accounts(_settings()).revoke(key_id):
        console.print(f"No active key with id {key_id}.")
        raise typer.Exit(1)
    console.print(f"Revoked key {key_id}.")


@accounts_app.command("create")
def accounts_create(name: str) -> None:
    """Create an account (activated now: its free quota counts from today)."""
    info = _accounts(_settings()).create_account(name)
    console.print(f"Account '{info.name}' (id {info.id}).")


@accounts_app.command("list")
def accounts_list() -> None:
    """Accounts with their overrides of limits and free quota."""
    table = Table("id", "account", "activated", "free only", "overrides (model: rps / concurrency / free quota)")
    for a in _accounts(_settings()).list_accounts():
        overrides = "; ".join(
            f"{m}: {v['submit_rps'] or '-'} / {v['concurrency'] or '-'} / "
            f"{v['free_quota'] if v['free_quota'] is not None else '-'}"
            for m, v in sorted(a.settings.items())
        )
        table.add_row(
            str(a.id),
            a.name,
            datetime.fromtimestamp(a.activated_at).strftime("%Y-%m-%d"),
            "yes" if a.free_only else "no",
            overrides or "catalog defaults",
        )
    console.print(table)


@accounts_app.command("set-limits")
def accounts_set_limits(
    account: str,
    model: str = typer.Option("*", help="Model name; * for every model."),
    rps: int = typer.Option(None, help="Task submissions per second."),
    concurrency: int = typer.Option(None, help="Tasks RUNNING at once."),
) -> None:
    """Set an account's submission rate and concurrency limits."""
    _accounts(_settings()).set_model_values(account, model, submit_rps=rps, concurrency=concurrency)
    console.print(f"Limits of '{account}' for {model} set.")


@accounts_app.command("set-quota")
def accounts_set_quota(
    account: str,
    images: int = typer.Option(..., help="Free images for the model."),
    model: str = typer.Option("*", help="Model name; * for every model."),
) -> None:
    """Set an account's free quota (images per model)."""
    _accounts(_settings()).set_model_values(account, model, free_quota=images)
    console.print(f"Free quota of '{account}' for {model}: {images} images.")


@accounts_app.command("free-only")
def accounts_free_only(account: str, enable: bool = typer.Option(True, "--on/--off")) -> None:
    """Use only the free quota: refuse requests once it is used up or expired, never charge."""
    _accounts(_settings()).set_free_only(account, enable)
    console.print(f"Free quota only for '{account}': {'on' if enable else 'off'}.")


@accounts_app.command("webhook-secret")
def accounts_webhook_secret(
    account: str,
    rotate: bool = typer.Option(False, "--rotate", help="Replace it: webhooks tried from now on use the new one."),
) -> None:
    """Print the key the account's completion webhooks are signed with (made on first use) as
    the last line of the output."""
    info = WebhookSecrets(_database(_settings())).show(account, rotate=rotate)
    if info is None:
        console.print(f"No account '{account}'.")
        raise typer.Exit(1)
    console.print(f"{'New webhook' if rotate else 'Webhook'} secret of account '{info.account}':")
    print(info.secret)


@workspaces_app.command("create")
def workspaces_create(account: str, name: str) -> None:
    """Create a workspace in an account; its id is the last line of the output."""
    try:
        info = _accounts(_settings()).create_workspace(account, name)
    except WorkspaceExists as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"Workspace '{info.name}' of account '{info.account}':")
    print(info.id)


@workspaces_app.command("list")
def workspaces_list() -> None:
    """Workspaces of every account."""
    table = Table("id", "account", "name")
    for w in _accounts(_settings()).list_workspaces():
        table.add_row(w.id, w.account, w.name)
    console.print(table)


@app.command()
def usage(
    by: str = typer.Option("hour", help="Period: hour or day (UTC)."),
    since: float = typer.Option(None, help="Hours back to start from (default: 24 by hour, 720 by day)."),
    account: str = typer.Option(None, help="Only this account."),
    model: str = typer.Option(None, help="Only this model."),
) -> None:
    """Usage per account and model: invocations, success rate, images, spend."""
    if by not in GRANULARITIES:
        console.print(f"--by must be one of: {', '.join(GRANULARITIES)}")
        raise typer.Exit(2)
    hours = since if since is not None else (24 if by == "hour" else 720)
    end = time.time()
    settings = _settings()
    rows = usage_report(_database(settings), by, end - hours * 3600, end + 1, account, model)
    table = Table(
        "period (UTC)",
        "account",
        "model",
        "invocations",
        "succeeded",
        "failed",
        "canceled",
        "success rate",
        "images",
        "free images",
        "spend (USD)",
    )
    for r in rows:
        rate = "-" if r.success_rate is None else f"{r.success_rate:.1%}"
        table.add_row(
            r.period,
            r.account,
            r.model,
            str(r.invocations),
            str(r.succeeded),
            str(r.failed),
            str(r.canceled),
            rate,
            str(r.images),
            str(r.free_images),
            f"{r.spend:.4f}",
        )
    if rows:
        table.add_section()
        table.add_row(
            "total",
            "",
            "",
            *(str(sum(getattr(r, f) for r in rows)) for f in ("invocations", "succeeded", "failed", "canceled")),
            "",
            str(sum(r.images for r in rows)),
            str(sum(r.free_images for r in rows)),
            f"{sum(r.spend for r in rows):.4f}",
        )
    console.print(table)

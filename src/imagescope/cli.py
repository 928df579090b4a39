"""The ``imagescope`` command: ``serve``, ``keys``, ``accounts``, ``workspaces``, ``usage``; and the
client commands ``generate`` and ``tasks``, which talk HTTP to any server of the API.

Contract other tools rely on: ``imagescope keys create`` prints the new key as the
last line of its output.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from imagescope.accounting.accounts import DEFAULT_ACCOUNT, Accounts, UnknownWorkspace, WorkspaceExists
from imagescope.accounting.usage import GRANULARITIES, usage_report
from imagescope.client import ApiError, Client, WaitTimeout
from imagescope.config import Settings, SettingsError
from imagescope.db import open_database

app = typer.Typer(help="imagescope: a self-hosted DashScope image API.", no_args_is_help=True)
keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")
accounts_app = typer.Typer(help="Manage accounts: limits, free quota, free-quota-only.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
workspaces_app = typer.Typer(help="Manage workspaces (X-DashScope-WorkSpace).", no_args_is_help=True)
app.add_typer(workspaces_app, name="workspaces")
# Piped output (scripts, tests) gets whole tables rather than columns cut to 80 characters.
console = Console(width=None if sys.stdout.isatty() else 200)


def _settings() -> Settings:
    """The environment's settings; a bad value stops the command with one line naming it."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _accounts(settings: Settings) -> Accounts:
    return Accounts(open_database(settings.db_url))


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

    from imagescope.ops.allocator import reexec_tuned

    reexec_tuned(["-m", "imagescope", *sys.argv[1:]])  # models run faster with glibc's allocator tuned

    settings = _settings()  # before the app's imports: a bad variable stops the start at once
    from imagescope.app import create_app
    from imagescope.models.models_file import ModelsFileError

    if workers is not None:  # --workers 0 too: accept tasks, run none
        settings = settings.model_copy(update={"workers": workers})
    if models:
        settings = settings.model_copy(update={"models_file": models})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        application = create_app(settings)
    except ModelsFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    accounts = _accounts(settings)
    if not accounts.has_active_keys():
        key, _ = accounts.create_key(DEFAULT_ACCOUNT, name="first-start")
        console.print(f"No API key existed; created one for account '{DEFAULT_ACCOUNT}':")
        print(key, flush=True)
    console.print(f"data directory: {settings.data_dir}")
    console.print(f"base URL: http://{host}:{port}/api/v1")
    uvicorn.run(application, host=host, port=port, log_level="info")


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
    rows = usage_report(open_database(settings.db_url), by, end - hours * 3600, end + 1, account, model)
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


# --- Client commands: talk HTTP to any server of the API (ours or the hosted one) ---------------

_UTC8 = timezone(timedelta(hours=8))
_TIME = "%Y-%m-%d %H:%M:%S"

tasks_app = typer.Typer(help="Tasks on a server of the API: list, show, cancel, wait.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")

BASE_URL_OPTION = typer.Option(
    "http://127.0.0.1:8000/api/v1",
    "--base-url",
    envvar="IMAGESCOPE_BASE_URL",
    help="The API's base URL (ours: http://HOST:PORT/api/v1).",
)
API_KEY_OPTION = typer.Option(
    None, "--api-key", envvar="DASHSCOPE_API_KEY", show_default=False, help="API key (default: DASHSCOPE_API_KEY)."
)


def _client(base_url: str, api_key: str | None) -> Client:
    if not api_key:
        typer.echo("error: no API key: pass --api-key or set DASHSCOPE_API_KEY", err=True)
        raise typer.Exit(2)
    return Client(base_url, api_key)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _say(line: str) -> None:
    print(line, flush=True)


class _Waiter:
    """Shows a task's course: a rich progress display on a terminal, plain status lines otherwise."""

    def __init__(self, task_id: str, submitted: bool = False) -> None:
        self.task_id = task_id
        self.status = ""
        self.progress: Progress | None = None
        self.bar: TaskID | None = None
        if sys.stdout.isatty():
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.progress.start()
            self.bar = self.progress.add_task(f"task {task_id}: queued", total=None)
        if submitted:  # a new task is PENDING: say so before the first (long) poll
            self.update({"output": {"task_status": "PENDING"}})

    def update(self, task: dict[str, Any]) -> None:
        output = task["output"]
        status = str(output.get("task_status"))
        if self.progress is None or self.bar is None:
            if status != self.status:
                _say(f"task {self.task_id} {status}")
            self.status = status
            return
        self.status = status
        p = output.get("progress")
        if status == "RUNNING" and isinstance(p, dict) and p.get("total_steps"):
            image, count = int(p.get("image", 1)), int(p.get("image_count", 1))
            step, steps = int(p.get("step", 0)), int(p["total_steps"])
            self.progress.update(
                self.bar,
                description=f"task {self.task_id}: running image {image}/{count}, step {step}/{steps}",
                total=count * steps,
                completed=(image - 1) * steps + step,
            )
        elif status == "RUNNING":
            self.progress.update(self.bar, description=f"task {self.task_id}: running")
        elif status == "PENDING":
            self.progress.update(self.bar, description=f"task {self.task_id}: queued")
        else:
            self.progress.update(self.bar, description=f"task {self.task_id}: {status}")

    def downloading(self, count: int) -> None:
        if self.progress is not None and self.bar is not None:
            self.progress.update(self.bar, description=f"task {self.task_id}: downloading", total=count, completed=0)

    def downloaded(self) -> None:
        if self.progress is not None and self.bar is not None:
            self.progress.advance(self.bar)

    def halt(self) -> None:
        """Take the display down, saying nothing more."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            console.print(f"task {self.task_id} {self.status}", highlight=False)


def _wait(client: Client, task_id: str, waiter: _Waiter, timeout: float | None = None) -> dict[str, Any]:
    """Wait for the task; Ctrl-C cancels it and exits 130."""
    try:
        return client.wait(task_id, timeout=timeout, on_update=waiter.update)
    except KeyboardInterrupt:
        waiter.halt()
        try:
            client.cancel(task_id)
            typer.echo(f"interrupted: canceled task {task_id}", err=True)
        except (ApiError, httpx.HTTPError) as exc:
            typer.echo(f"interrupted: task {task_id} not canceled: {exc}", err=True)
        raise typer.Exit(130) from None
    except WaitTimeout as exc:
        waiter.halt()
        raise _fail(f"timed out: task {task_id} still {exc.task['output'].get('task_status')}") from None


def _ended(task: dict[str, Any]) -> None:
    """Exit 1 with the task's code and message unless it SUCCEEDED."""
    output = task["output"]
    status = output.get("task_status")
    if status == "SUCCEEDED":
        return
    if status == "FAILED":
        raise _fail(f"{output.get('code')}: {output.get('message')}")
    raise _fail(f"task {output.get('task_id')} {status}")


def _api_errors(run: Callable[[], None]) -> None:
    try:
        run()
    except ApiError as exc:
        raise _fail(f"{exc.code}: {exc.message}") from None
    except httpx.HTTPError as exc:
        raise _fail(f"error: {type(exc).__name__}: {exc}") from None
    except KeyboardInterrupt:  # outside a wait (submitting, downloading): nothing to cancel
        raise _fail("interrupted", 130) from None


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="What to draw."),
    model: str = typer.Option("wan2.2-t2i-flash", help="Model name."),
    size: str = typer.Option(None, help="W*H, e.g. 1024*1024 (default: the model's)."),
    n: int = typer.Option(None, help="Number of images (default: the model's)."),
    seed: int = typer.Option(None, help="Seed of the first image (the next ones: seed+1, …)."),
    negative: str = typer.Option(None, help="Negative prompt."),
    no_extend: bool = typer.Option(False, "--no-extend", help="Turn prompt_extend off."),
    watermark: bool = typer.Option(False, "--watermark", help="Ask for the watermark."),
    out: Path = typer.Option(Path("."), "--out", help="Directory the PNGs are written to."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Generate images (text-to-image task): wait, download them into --out, print their paths last."""
    client = _client(base_url, api_key)
    parameters: dict[str, Any] = {}
    for name, value in (("size", size), ("n", n), ("seed", seed)):
        if value is not None:
            parameters[name] = value
    if no_extend:
        parameters["prompt_extend"] = False
    if watermark:
        parameters["watermark"] = True

    def run() -> None:
        task_id = client.submit_text2image(model, prompt, negative_prompt=negative, parameters=parameters)
        waiter = _Waiter(task_id, submitted=True)
        task = _wait(client, task_id, waiter)
        if task["output"].get("task_status") != "SUCCEEDED":
            waiter.stop()
            _ended(task)
        results = task["output"].get("results") or []
        waiter.downloading(sum(1 for r in results if r.get("url")))
        out.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        failures: list[str] = []
        for i, result in enumerate(results, start=1):
            if result.get("url"):
                paths.append(client.download(result["url"], out / f"{task_id}-{i}.png"))
                waiter.downloaded()
            else:
                failures.append(f"image {i}: {result.get('code')}: {result.get('message')}")
        waiter.stop()
        for line in failures:
            _say(line)
        for path in paths:
            _say(str(path))

    try:
        _api_errors(run)
    finally:
        client.close()


@tasks_app.command("list")
def tasks_list(
    status: str = typer.Option(None, help="PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED."),
    model: str = typer.Option(None, help="Only this model."),
    page: int = typer.Option(1, help="Page number, from 1."),
    size: int = typer.Option(10, help="Tasks per page (at most 100)."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """The key's tasks, newest first."""
    client = _client(base_url, api_key)

    def run() -> None:
        answer = client.list_tasks(status=status, model=model, page_no=page, page_size=size)
        table = Table("task id", "model", "status", "submitted (UTC+8)")
        for t in answer.get("data") or []:
            created = t.get("gmt_create")
            shown = "" if created is None else datetime.fromtimestamp(created / 1000, _UTC8).strftime(_TIME)
            table.add_row(str(t.get("task_id")), str(t.get("model_name")), str(t.get("status")), shown)
        console.print(table)
        console.print(f"page {answer.get('page_no')} of {answer.get('total_page')}, {answer.get('total')} tasks in all")

    try:
        _api_errors(run)
    finally:
        client.close()


@tasks_app.command("show")
def tasks_show(
    task_id: str = typer.Argument(..., help="The task's id."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """The task as the server shows it (JSON)."""
    client = _client(base_url, api_key)
    try:
        _api_errors(lambda: _say(json.dumps(client.task(task_id), indent=2, ensure_ascii=False)))
    finally:
        client.close()


@tasks_app.command("cancel")
def tasks_cancel(
    task_id: str = typer.Argument(..., help="The task's id."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Cancel a PENDING (on our server also a RUNNING) task."""
    client = _client(base_url, api_key)
    try:
        _api_errors(lambda: client.cancel(task_id))
        _say(f"canceled task {task_id}")
    finally:
        client.close()


@tasks_app.command("wait")
def tasks_wait(
    task_id: str = typer.Argument(..., help="The task's id."),
    timeout: float = typer.Option(None, help="Give up after this many seconds (exit 1; the task goes on)."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Wait until the task ends; print its result URLs (exit 1 unless it SUCCEEDED). Ctrl-C cancels it."""
    client = _client(base_url, api_key)

    def run() -> None:
        waiter = _Waiter(task_id)
        task = _wait(client, task_id, waiter, timeout)
        waiter.stop()
        _ended(task)
        for result in task["output"].get("results") or []:
            _say(result["url"] if result.get("url") else f"{result.get('code')}: {result.get('message')}")

    try:
        _api_errors(run)
    finally:
        client.close()

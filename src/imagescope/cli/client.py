"""Client commands: ``generate`` and ``tasks``, which talk HTTP to any server of the API (ours
or the hosted one) through ``imagescope.client``, as any other client would."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from imagescope.cli import app, console
from imagescope.client import ApiError, Client, WaitTimeout

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


@contextmanager
def _session(base_url: str, api_key: str | None) -> Iterator[Client]:
    """A client of the API for one command: no key exits 2; an API error exits 1 with its code
    and message; Ctrl-C outside a wait (submitting, downloading) exits 130, there is nothing to cancel."""
    if not api_key:
        typer.echo("error: no API key: pass --api-key or set DASHSCOPE_API_KEY", err=True)
        raise typer.Exit(2)
    client = Client(base_url, api_key)
    try:
        yield client
    except ApiError as exc:
        raise _fail(f"{exc.code}: {exc.message}") from None
    except httpx.HTTPError as exc:
        raise _fail(f"error: {type(exc).__name__}: {exc}") from None
    except KeyboardInterrupt:
        raise _fail("interrupted", 130) from None
    finally:
        client.close()


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
    parameters: dict[str, Any] = {}
    for name, value in (("size", size), ("n", n), ("seed", seed)):
        if value is not None:
            parameters[name] = value
    if no_extend:
        parameters["prompt_extend"] = False
    if watermark:
        parameters["watermark"] = True
    with _session(base_url, api_key) as client:
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
    with _session(base_url, api_key) as client:
        answer = client.list_tasks(status=status, model=model, page_no=page, page_size=size)
    table = Table("task id", "model", "status", "submitted (UTC+8)")
    for t in answer.get("data") or []:
        created = t.get("gmt_create")
        shown = "" if created is None else datetime.fromtimestamp(created / 1000, _UTC8).strftime(_TIME)
        table.add_row(str(t.get("task_id")), str(t.get("model_name")), str(t.get("status")), shown)
    console.print(table)
    console.print(f"page {answer.get('page_no')} of {answer.get('total_page')}, {answer.get('total')} tasks in all")


@tasks_app.command("show")
def tasks_show(
    task_id: str = typer.Argument(..., help="The task's id."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """The task as the server shows it (JSON)."""
    with _session(base_url, api_key) as client:
        task = client.task(task_id)
    _say(json.dumps(task, indent=2, ensure_ascii=False))


@tasks_app.command("cancel")
def tasks_cancel(
    task_id: str = typer.Argument(..., help="The task's id."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Cancel a PENDING (on our server also a RUNNING) task."""
    with _session(base_url, api_key) as client:
        client.cancel(task_id)
    _say(f"canceled task {task_id}")


@tasks_app.command("wait")
def tasks_wait(
    task_id: str = typer.Argument(..., help="The task's id."),
    timeout: float = typer.Option(None, help="Give up after this many seconds (exit 1; the task goes on)."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Wait until the task ends; print its result URLs (exit 1 unless it SUCCEEDED). Ctrl-C cancels it."""
    with _session(base_url, api_key) as client:
        waiter = _Waiter(task_id)
        task = _wait(client, task_id, waiter, timeout)
        waiter.stop()
    _ended(task)
    for result in task["output"].get("results") or []:
        _say(result["url"] if result.get("url") else f"{result.get('code')}: {result.get('message')}")

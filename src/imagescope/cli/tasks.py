"""``imagescope tasks list|show|cancel|wait``: tasks on any server of the API, over HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import typer
from rich.table import Table

from imagescope.cli import app, console
from imagescope.cli.client import API_KEY_OPTION, BASE_URL_OPTION, Waiter, require_success, say, session, wait_for
from imagescope.client.protocols import result_images

_UTC8 = timezone(timedelta(hours=8))
_TIME = "%Y-%m-%d %H:%M:%S"

tasks_app = typer.Typer(help="Tasks on a server of the API: list, show, cancel, wait.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")


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
    with session(base_url, api_key) as client:
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
    with session(base_url, api_key) as client:
        task = client.task(task_id)
    say(json.dumps(task, indent=2, ensure_ascii=False))


@tasks_app.command("cancel")
def tasks_cancel(
    task_id: str = typer.Argument(..., help="The task's id."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Cancel a PENDING (on our server also a RUNNING) task."""
    with session(base_url, api_key) as client:
        client.cancel(task_id)
    say(f"canceled task {task_id}")


@tasks_app.command("wait")
def tasks_wait(
    task_id: str = typer.Argument(..., help="The task's id."),
    timeout: float = typer.Option(None, help="Give up after this many seconds (exit 1; the task goes on)."),
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Wait until the task ends; print its result URLs (exit 1 unless it SUCCEEDED). Ctrl-C cancels it."""
    with session(base_url, api_key) as client:
        waiter = Waiter(f"task {task_id}")
        task = wait_for(client, task_id, waiter, timeout)
        waiter.stop()
    require_success(task)
    for url, failure in result_images(task["output"]):
        say(url or str(failure))

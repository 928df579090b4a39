"""Client commands ``generate`` and ``edit`` (and the pieces ``tasks.py`` shares), which talk HTTP
to any server of the API (ours or the hosted one) through ``imagescope.client``, as any other
client would."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from imagescope.cli import app, console
from imagescope.client import ApiError, Client, WaitTimeout
from imagescope.client.protocols import Ask, Call, result_images, text_to_image
from imagescope.client.protocols import edit as edit_call

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
def session(base_url: str, api_key: str | None) -> Iterator[Client]:
    """A client of the API for one command: no key exits 2; an API error exits 1 with its code
    and message; Ctrl-C outside a wait (submitting, downloading) exits 130, there is nothing to cancel."""
    if not api_key:
        typer.echo("error: no API key: pass --api-key or set DASHSCOPE_API_KEY", err=True)
        raise typer.Exit(2)
    client = Client(base_url, api_key)
    try:
        yield client
    except ApiError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    except httpx.HTTPError as exc:
        raise fail(f"error: {type(exc).__name__}: {exc}") from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    finally:
        client.close()


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def say(line: str) -> None:
    print(line, flush=True)


class Waiter:
    """Shows a task's course: a rich progress display on a terminal, plain status lines otherwise."""

    def __init__(self, label: str, submitted: bool = False) -> None:
        self.label = label  # "task ID", or "call to MODEL" (a synchronous call has no task to show)
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
            self.bar = self.progress.add_task(f"{label}: queued", total=None)
        if submitted:  # a new task is PENDING: say so before the first (long) poll
            self.update({"output": {"task_status": "PENDING"}})

    def update(self, task: dict[str, Any]) -> None:
        output = task["output"]
        status = str(output.get("task_status"))
        if self.progress is None or self.bar is None:
            if status != self.status:
                say(f"{self.label} {status}")
            self.status = status
            return
        self.status = status
        p = output.get("progress")
        if status == "RUNNING" and isinstance(p, dict) and p.get("total_steps"):
            image, count = int(p.get("image", 1)), int(p.get("image_count", 1))
            step, steps = int(p.get("step", 0)), int(p["total_steps"])
            self.progress.update(
                self.bar,
                description=f"{self.label}: running image {image}/{count}, step {step}/{steps}",
                total=count * steps,
                completed=(image - 1) * steps + step,
            )
        elif status == "RUNNING":
            self.progress.update(self.bar, description=f"{self.label}: running")
        elif status == "PENDING":
            self.progress.update(self.bar, description=f"{self.label}: queued")
        else:
            self.progress.update(self.bar, description=f"{self.label}: {status}")

    def downloading(self, count: int) -> None:
        if self.progress is not None and self.bar is not None:
            self.progress.update(self.bar, description=f"{self.label}: downloading", total=count, completed=0)

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
            console.print(f"{self.label} {self.status}", highlight=False)


def wait_for(client: Client, task_id: str, waiter: Waiter, timeout: float | None = None) -> dict[str, Any]:
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
        raise fail(f"timed out: task {task_id} still {exc.task['output'].get('task_status')}") from None


def require_success(task: dict[str, Any]) -> None:
    """Exit 1 with the task's code and message unless it SUCCEEDED."""
    output = task["output"]
    status = output.get("task_status")
    if status == "SUCCEEDED":
        return
    if status == "FAILED":
        raise fail(f"{output.get('code')}: {output.get('message')}")
    raise fail(f"task {output.get('task_id')} {status}")


def _make(client: Client, call: Call, out: Path) -> None:
    """Run the call (a task, waited for; or a synchronous call), download its images into
    ``out`` and print their paths last (failed images first, as ``image i: code: message``)."""
    if call.asynchronous:
        name = client.submit(call)
        waiter = Waiter(f"task {name}", submitted=True)
        task = wait_for(client, name, waiter)
        if task["output"].get("task_status") != "SUCCEEDED":
            waiter.stop()
            require_success(task)
        output = task["output"]
    else:
        waiter = Waiter(f"call to {call.body['model']}")
        waiter.update({"output": {"task_status": "RUNNING"}})
        try:
            answer = client.call(call)
        except BaseException:
            waiter.halt()
            raise
        waiter.status = "SUCCEEDED"
        output = answer.get("output") or {}
        name = str(answer.get("request_id") or "call")
    images = result_images(output)
    waiter.downloading(sum(1 for url, _ in images if url))
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    failures: list[str] = []
    for i, (url, failure) in enumerate(images, start=1):
        if url:
            paths.append(client.download(url, out / f"{name}-{i}.png"))
            waiter.downloaded()
        else:
            failures.append(f"image {i}: {failure}")
    waiter.stop()
    for line in failures:
        say(line)
    for path in paths:
        say(str(path))


def _parameters(
    size: str | None, n: int | None, seed: int | None, no_extend: bool, watermark: bool, params: list[str]
) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for name, value in (("size", size), ("n", n), ("seed", seed)):
        if value is not None:
            parameters[name] = value
    if no_extend:
        parameters["prompt_extend"] = False
    if watermark:
        parameters["watermark"] = True
    for item in params:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise fail(f"error: --param takes NAME=VALUE, got {item!r}", 2)
        try:
            parameters[key] = json.loads(text)  # numbers and booleans as such: upscale_factor=2
        except ValueError:
            parameters[key] = text
    return parameters


SIZE_OPTION = typer.Option(None, help="W*H, e.g. 1024*1024 (default: the model's).")
N_OPTION = typer.Option(None, help="Number of images (default: the model's).")
SEED_OPTION = typer.Option(None, help="Seed of the first image (the next ones: seed+1, …).")
NEGATIVE_OPTION = typer.Option(None, help="Negative prompt.")
NO_EXTEND_OPTION = typer.Option(False, "--no-extend", help="Turn prompt_extend off.")
WATERMARK_OPTION = typer.Option(False, "--watermark", help="Ask for the watermark.")
PARAM_OPTION = typer.Option([], "--param", help="Any other parameter, NAME=VALUE (JSON values: n=2, strength=0.5).")
OUT_OPTION = typer.Option(Path("."), "--out", help="Directory the PNGs are written to.")


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="What to draw."),
    model: str = typer.Option("wan2.2-t2i-flash", help="Model name."),
    size: str = SIZE_OPTION,
    n: int = N_OPTION,
    seed: int = SEED_OPTION,
    negative: str = NEGATIVE_OPTION,
    no_extend: bool = NO_EXTEND_OPTION,
    watermark: bool = WATERMARK_OPTION,
    param: list[str] = PARAM_OPTION,
    out: Path = OUT_OPTION,
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Generate images from text: wait, download them into --out, print their paths last.

    Each model is called on its endpoint (client/protocols.py): a task for most, a synchronous
    call for qwen-image-max."""
    parameters = _parameters(size, n, seed, no_extend, watermark, param)
    ask = Ask(model, prompt=prompt, negative_prompt=negative, parameters=parameters)
    with session(base_url, api_key) as client:
        _make(client, text_to_image(ask), out)


@app.command()
def edit(
    images: list[str] = typer.Argument(..., help="Input images: local files (uploaded first), URLs or oss:// keys."),
    model: str = typer.Option(..., help="wanx2.1-imageedit, wan2.5-i2i-preview, qwen-image-edit(-plus), wan2.6-image."),
    prompt: str = typer.Option(None, help="What to change."),
    function: str = typer.Option(None, help="wanx2.1-imageedit's function (with --mask: description_edit_with_mask)."),
    mask: str = typer.Option(None, help="wanx2.1-imageedit's mask (white = edit): a local file, URL or oss:// key."),
    size: str = SIZE_OPTION,
    n: int = N_OPTION,
    seed: int = SEED_OPTION,
    negative: str = NEGATIVE_OPTION,
    no_extend: bool = NO_EXTEND_OPTION,
    watermark: bool = WATERMARK_OPTION,
    param: list[str] = PARAM_OPTION,
    out: Path = OUT_OPTION,
    base_url: str = BASE_URL_OPTION,
    api_key: str = API_KEY_OPTION,
) -> None:
    """Edit images: local files go through the upload flow (as the SDK sends them), then the
    task is waited for and its images downloaded into --out; their paths are printed last."""
    parameters = _parameters(size, n, seed, no_extend, watermark, param)
    for local in [ref for ref in (*images, mask) if ref is not None and not _is_remote(ref)]:
        if not Path(local).is_file():
            raise fail(f"error: no such file: {local}", 2)
    try:
        edit_call(Ask(model, images=tuple(images), mask=mask, function=function))  # refused before any upload
    except ValueError as exc:
        raise fail(f"error: {exc}", 2) from None
    with session(base_url, api_key) as client:

        def reference(ref: str) -> str:
            return ref if _is_remote(ref) else client.upload(model, Path(ref))

        ask = Ask(
            model,
            prompt=prompt,
            negative_prompt=negative,
            images=tuple(reference(image) for image in images),
            mask=None if mask is None else reference(mask),
            function=function,
            parameters=parameters,
        )
        _make(client, edit_call(ask), out)


def _is_remote(reference: str) -> bool:
    return reference.startswith(("http://", "https://", "oss://", "data:"))

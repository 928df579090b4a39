"""``Client``: submit tasks and synchronous calls (``protocols.Call``), upload local files, read,
list, cancel and wait for tasks, download results."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from imagescope.client.protocols import Call

DEFAULT_BASE_URL = "http://127.0.0.1:8000/api/v1"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"})
LONG_POLL_S = 20  # our server answers as soon as the task ends; others answer at once
SYNC_CALL_TIMEOUT_S = 600.0  # the server's own limit on a synchronous call
MIN_POLL_INTERVAL_S = 1.0  # between polls when an unfinished answer came back quicker than this

Task = dict[str, Any]  # the body of GET /tasks/{id}: {request_id, output: {...}, usage?}


class ApiError(Exception):
    """A non-2xx answer: ``{request_id, code, message}`` (or what could be made of another body)."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class WaitTimeout(Exception):
    """The task had not ended when the wait's time ran out; ``task`` is how it last stood."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task['output'].get('task_id')} still {task['output'].get('task_status')}")
        self.task = task


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return ApiError(response.status_code, body["code"], str(body.get("message", "")), body.get("request_id"))
    if isinstance(body, dict) and isinstance(body.get("error"), dict):  # OpenAI-shaped, for good measure
        err = body["error"]
        return ApiError(response.status_code, str(err.get("code") or err.get("type")), str(err.get("message", "")))
    text = response.text.strip().replace("\n", " ")[:200]
    return ApiError(response.status_code, f"HTTP{response.status_code}", text or response.reason_phrase)


class Client:
    """One API key against one base URL (``…/api/v1``). Every call has a timeout."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "imagescope-cli"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )
        # Result URLs are signed already: fetched without the API key (it must not travel to storage).
        self._files = httpx.Client(timeout=httpx.Timeout(timeout * 4, connect=10.0), follow_redirects=True)

    def close(self) -> None:
        self._http.close()
        self._files.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, *, read_timeout: float | None = None, **kw: Any) -> dict[str, Any]:
        timeout = httpx.Timeout(read_timeout, connect=10.0) if read_timeout else httpx.USE_CLIENT_DEFAULT
        response = self._http.request(method, self.base_url + path, timeout=timeout, **kw)
        if not response.is_success:
            raise _error(response)
        body = response.json()
        if not isinstance(body, dict):
            raise ApiError(response.status_code, "BadResponse", "the answer is not a JSON object")
        return body

    def submit(self, call: Call) -> str:
        """Create an asynchronous task (``call.asynchronous``); its id."""
        answer = self._request("POST", call.path, json=call.body, headers=self._headers(call, asynchronous=True))
        return str(answer["output"]["task_id"])

    def call(self, call: Call) -> dict[str, Any]:
        """A synchronous call (the messages protocol): the answer, once the images are made."""
        headers = self._headers(call, asynchronous=False)
        return self._request("POST", call.path, json=call.body, headers=headers, read_timeout=SYNC_CALL_TIMEOUT_S)

    @staticmethod
    def _headers(call: Call, *, asynchronous: bool) -> dict[str, str]:
        headers = {"X-DashScope-Async": "enable"} if asynchronous else {}
        if call.references_uploads:
            headers["X-DashScope-OssResourceResolve"] = "enable"
        return headers

    def upload(self, model: str, path: Path) -> str:
        """Send a local file through the upload flow, as the SDK does (a policy from
        ``GET /uploads?action=getPolicy``, then a form POST to its ``upload_host``); the
        ``oss://`` key a request names it by (with ``X-DashScope-OssResourceResolve``)."""
        policy = self._request("GET", "/uploads", params={"action": "getPolicy", "model": model})["output"]
        key = f"{policy['upload_dir']}/{path.name}"
        form = {
            "OSSAccessKeyId": policy["oss_access_key_id"],
            "Signature": policy["signature"],
            "policy": policy["policy"],
            "key": key,
            "x-oss-object-acl": policy["x_oss_object_acl"],
            "x-oss-forbid-overwrite": policy["x_oss_forbid_overwrite"],
            "success_action_status": "200",
        }
        with path.open("rb") as file:  # the upload host is the object store: no API key goes there
            response = self._files.post(policy["upload_host"], data=form, files={"file": (path.name, file)})
        if not response.is_success:
            raise _error(response)
        return f"oss://{key}"

    def task(self, task_id: str, *, wait: int = 0) -> Task:
        """The task now, or (``wait`` > 0, our server) as soon as it ends, at most ``wait`` seconds on."""
        params = {"wait": str(wait)} if wait > 0 else None
        read_timeout = self.timeout + wait if wait > 0 else None
        return self._request("GET", f"/tasks/{task_id}", params=params, read_timeout=read_timeout)

    def list_tasks(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        page_no: int = 1,
        page_size: int = 10,
    ) -> dict[str, Any]:
        params: dict[str, str] = {"page_no": str(page_no), "page_size": str(page_size)}
        if status:
            params["status"] = status
        if model:
            params["model_name"] = model
        return self._request("GET", "/tasks", params=params)

    def cancel(self, task_id: str) -> None:
        self._request("POST", f"/tasks/{task_id}/cancel")

    def wait(
        self,
        task_id: str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Task], None] | None = None,
    ) -> Task:
        """Long-poll (plain polling against a server that ignores ``wait``) until the task ends.

        ``on_update`` sees every answer. Raises ``WaitTimeout`` once ``timeout`` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            started = time.monotonic()
            wait = LONG_POLL_S if deadline is None else max(0, min(LONG_POLL_S, int(deadline - started)))
            task = self.task(task_id, wait=wait)
            if on_update is not None:
                on_update(task)
            if task["output"].get("task_status") in TERMINAL:
                return task
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise WaitTimeout(task)
            if now - started < MIN_POLL_INTERVAL_S:
                pause = MIN_POLL_INTERVAL_S - (now - started)
                time.sleep(pause if deadline is None else max(0.0, min(pause, deadline - now)))

    def download(self, url: str, path: Path) -> Path:
        """Write the file at ``url`` (a signed result URL) to ``path``, through a temporary name."""
        partial = path.with_name(path.name + ".part")
        with self._files.stream("GET", url) as response:
            if not response.is_success:
                response.read()
                raise _error(response)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        partial.replace(path)
        return path

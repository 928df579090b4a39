"""Completion webhooks (``X-Imagescope-Callback``), received by a real HTTP server in the test:
what is posted and how it is signed, retries from the durable outbox (through a kill -9), and
the address guard at submission and on delivery.

The webhook body is what ``GET /api/v1/tasks/{id}`` answers, but for ``request_id``: a query
answers its own, the webhook carries the one of the request that created the task.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import openai
import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import ASYNC_PATH, Server
from imagescope.accounting.accounts import Accounts, Caller
from imagescope.db import Database, TaskCallback, WebhookDelivery, open_database
from imagescope.tasks.callbacks import (
    MAX_ATTEMPTS,
    Callback,
    CallbackGuard,
    DeliveryState,
    WebhookSecrets,
    retry_delay,
)
from imagescope.tasks.deliveries import Deliveries
from imagescope.tasks.spec import ErrorPart, GenerationRequest, ImagePart
from imagescope.tasks.store import TaskEnd, TaskStatus, TaskStore

ADMIN = "hooks-admin-token"
BODY = {"model": "wan2.2-t2i-flash", "input": {"prompt": "a lighthouse"}, "parameters": {"size": "512*512", "n": 1}}
EDIT_PATH = "/services/aigc/image2image/image-synthesis"
SYNC_PATH = "/services/aigc/multimodal-generation/generation"
UTC8 = timezone(timedelta(hours=8))


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float

    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver on 127.0.0.1: records every POST; ``script[path]`` lists the statuses to
    answer there, in turn (200 once they run out)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    statuses = receiver.script.get(self.path, [])
                    status = statuses.pop(0) if statuses else 200
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                    )
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/redirected")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait(self, path: str, count: int = 1, timeout: float = 15) -> list[Received]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(found := self.at(path)) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{len(self.at(path))} of {count} webhooks at {path}")


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    r = Receiver()
    yield r
    r.httpd.shutdown()


def hook_env(receiver: Receiver, **env: str) -> dict[str, str]:
    return {"IMAGESCOPE_CALLBACK_ALLOW_HOSTS": f"127.0.0.1:{receiver.port}", "IMAGESCOPE_ADMIN_TOKEN": ADMIN, **env}


@pytest.fixture(scope="module")
def hooked(tmp_path_factory, receiver) -> Server:
    """A server whose webhooks may reach the receiver (allow-listed), with one task worker."""
    s = Server(tmp_path_factory.mktemp("hooked"), env=hook_env(receiver, IMAGESCOPE_WORKERS="1")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def idle(tmp_path_factory, receiver) -> Server:
    """A server that runs no task (they stay PENDING until canceled)."""
    s = Server(tmp_path_factory.mktemp("idle"), env=hook_env(receiver, IMAGESCOPE_WORKERS="0")).start()
    yield s
    s.stop()


def submit(server: Server, body: dict, callback: str, path: str = ASYNC_PATH) -> requests.Response:
    headers = {**server.headers(), "X-Imagescope-Callback": callback}
    return requests.post(server.api + path, json=body, headers=headers, timeout=10)


def created(response: requests.Response) -> tuple[str, str]:
    """(task id, request id) of an accepted task."""
    assert response.status_code == 200, response.text
    return response.json()["output"]["task_id"], response.json()["request_id"]


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["message"]


def verify(secret: str, hook: Received, tolerance_s: float = 300) -> bool:
    """What a receiver does (the README's recipe)."""
    fields = dict(item.split("=", 1) for item in hook.headers["x-imagescope-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + hook.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < tolerance_s


def end_time(output: dict) -> float:
    return datetime.strptime(output["end_time"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC8).timestamp()


# --- what is posted ---------------------------------------------------------------------------


def test_succeeded_task_posts_its_query_body_once_within_a_second_of_its_end(hooked, receiver):
    task_id, request_id = created(submit(hooked, BODY, receiver.url("/succeeded")))
    [hook] = receiver.wait("/succeeded")
    queried = hooked.wait(task_id)
    assert hook.headers["x-imagescope-event"] == "task.succeeded"
    assert hook.headers["content-type"] == "application/json"
    assert hook.headers["x-imagescope-delivery"].startswith("dlv_")
    assert hook.json() == {**queried, "request_id": request_id}  # the creating request's id
    assert queried["output"]["task_status"] == "SUCCEEDED" and hook.json()["output"]["results"][0]["url"]
    assert hook.at - end_time(queried["output"]) < 1.0
    time.sleep(0.5)
    assert len(receiver.at("/succeeded")) == 1  # once


def test_failed_task_posts_task_failed_with_its_error(hooked, receiver):
    edit = {
        "model": "wanx2.1-imageedit",
        "input": {"function": "colorization", "prompt": "colour it", "base_image_url": "http://127.0.0.1:9/a.png"},
        "parameters": {"n": 1},
    }
    task_id, _ = created(submit(hooked, edit, receiver.url("/failed"), EDIT_PATH))
    [hook] = receiver.wait("/failed")
    queried = hooked.wait(task_id)
    assert hook.headers["x-imagescope-event"] == "task.failed"
    assert hook.json()["output"] == queried["output"]
    assert queried["output"]["code"] == "BadRequest.InputDownloadFailed"


def test_canceled_pending_task_posts_task_canceled(idle, receiver):
    task_id, _ = created(submit(idle, BODY, receiver.url("/canceled")))
    cancel = requests.post(f"{idle.api}/tasks/{task_id}/cancel", headers=idle.headers(), timeout=10)
    assert cancel.status_code == 200, cancel.text
    [hook] = receiver.wait("/canceled")
    assert hook.headers["x-imagescope-event"] == "task.canceled"
    assert hook.json()["output"] == idle.task(task_id)["output"]
    assert hook.json()["output"]["task_status"] == "CANCELED"


def test_openai_and_synchronous_routes_take_the_callback_header_too(hooked, receiver):
    client = openai.OpenAI(base_url=f"{hooked.url}/v1", api_key=hooked.key, max_retries=0)
    client.images.generate(
        model="wan2.2-t2i-flash",
        prompt="a kite",
        size="512x512",
        n=1,
        extra_headers={"X-Imagescope-Callback": receiver.url("/openai")},
    )
    sync = {"model": "qwen-image-plus", "input": {"messages": [{"role": "user", "content": [{"text": "a kite"}]}]}}
    answer = requests.post(
        hooked.api + SYNC_PATH,
        json=sync,
        headers={**hooked.headers(asynchronous=False), "X-Imagescope-Callback": receiver.url("/sync")},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    for path in ("/openai", "/sync"):
        [hook] = receiver.wait(path)
        assert hook.headers["x-imagescope-event"] == "task.succeeded"
        task_id = hook.json()["output"]["task_id"]
        assert hook.json()["output"] == hooked.task(task_id)["output"]


# --- signatures -------------------------------------------------------------------------------


def test_signature_verifies_with_the_cli_secret_and_a_rotated_secret_signs_afterwards(hooked, receiver):
    first = hooked.cli("accounts", "webhook-secret", "default").stdout.strip().splitlines()[-1]
    created(submit(hooked, BODY, receiver.url("/signed-1")))
    [hook] = receiver.wait("/signed-1")
    assert verify(first, hook)
    assert not verify(first, Received(hook.path, hook.headers, hook.body + b" ", hook.at))  # a changed body fails

    rotated = hooked.cli("accounts", "webhook-secret", "default", "--rotate").stdout.strip().splitlines()[-1]
    assert rotated != first and rotated.startswith("whsec_")
    created(submit(hooked, BODY, receiver.url("/signed-2")))
    [hook] = receiver.wait("/signed-2")
    assert verify(rotated, hook) and not verify(first, hook)


def test_admin_api_shows_and_rotates_the_webhook_secret(hooked):
    def admin(method: str, path: str) -> requests.Response:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        return requests.request(method, f"{hooked.url}/admin/v1{path}", headers=auth, timeout=10)

    shown = admin("GET", "/accounts/default/webhook-secret").json()["webhook_secret"]
    cli = hooked.cli("accounts", "webhook-secret", "default").stdout.strip().splitlines()[-1]
    assert shown["account"] == "default" and shown["secret"] == cli
    rotated = admin("POST", "/accounts/default/webhook-secret/rotate").json()["webhook_secret"]
    assert rotated["secret"] != shown["secret"] and rotated["created_at"] >= shown["created_at"]
    assert admin("GET", "/accounts/default/webhook-secret").json()["webhook_secret"] == rotated  # kept
    missing = admin("GET", "/accounts/nobody/webhook-secret")
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"
    with pytest.raises(subprocess.CalledProcessError) as unknown:
        hooked.cli("accounts", "webhook-secret", "nobody")
    assert unknown.value.returncode == 1 and "No account 'nobody'" in unknown.value.stdout
    assert requests.get(f"{hooked.url}/admin/v1/accounts/default/webhook-secret", timeout=10).status_code == 401


# --- retries and durability -------------------------------------------------------------------


def test_receiver_failing_twice_gets_three_tries_with_one_delivery_id_and_no_redirect_followed(hooked, receiver):
    receiver.script["/flaky"] = [500, 302]
    created(submit(hooked, BODY, receiver.url("/flaky")))
    tries = receiver.wait("/flaky", 3)
    assert len({t.headers["x-imagescope-delivery"] for t in tries}) == 1
    assert [t.body for t in tries] == [tries[0].body] * 3
    assert tries[1].at - tries[0].at < 2.0  # the first retry
    assert receiver.at("/redirected") == []
    time.sleep(0.5)
    assert len(receiver.at("/flaky")) == 3  # the 200 ended it
    metrics = requests.get(f"{hooked.url}/metrics", timeout=10).text
    assert 'imagescope_webhook_deliveries_total{outcome="retry"}' in metrics


def test_delivery_pending_when_the_server_is_killed_is_delivered_after_restart(idle, receiver):
    server = idle
    receiver.script["/restart"] = [503] * 100
    task_id, _ = created(submit(server, BODY, receiver.url("/restart")))
    requests.post(f"{server.api}/tasks/{task_id}/cancel", headers=server.headers(), timeout=10)
    [first] = receiver.wait("/restart")
    time.sleep(0.3)  # its failure recorded: the retry is due a second later
    server.kill()
    receiver.script["/restart"] = []
    killed_at = time.time()
    server.start()
    tries = receiver.wait("/restart", 2)
    assert tries[-1].at > killed_at
    assert {t.headers["x-imagescope-delivery"] for t in tries} == {first.headers["x-imagescope-delivery"]}
    assert tries[-1].json()["output"]["task_status"] == "CANCELED"


def test_backoff_makes_at_least_8_tries_over_at_least_an_hour_the_first_retry_within_2_s():
    delays = [retry_delay(attempts) for attempts in range(1, MAX_ATTEMPTS)]
    assert MAX_ATTEMPTS >= 8
    assert delays[0] <= 2.0
    assert sum(delays) >= 3600
    assert delays == sorted(delays) and max(delays) <= 900  # growing, capped at 15 minutes
    assert retry_delay(10**6) == 900  # no overflow far past the cap


# --- the address guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "http://127.0.0.1:9/hook",  # loopback, another port than the allowed one
        "http://localhost:{port}/hook",  # the allowed port under another name
        "http://10.0.0.1/hook",
        "http://192.168.1.20:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://0x7f000001/hook",
    ],
)
def test_loopback_private_or_link_local_callback_not_allow_listed_is_invalid_parameter(hooked, receiver, where):
    response = submit(hooked, BODY, where.format(port=receiver.port))
    status, code, message = error_of(response)
    assert (status, code) == (400, "InvalidParameter")
    assert message.startswith("X-Imagescope-Callback must reach a public address")
    if "localhost" in where:  # the address a name resolved to is not told
        assert message == (
            "X-Imagescope-Callback must reach a public address: 'localhost' does not resolve to public "
            "addresses only (loopback, private and link-local addresses are refused)."
        )


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("ftp://example.com/hook", "must be an http or https URL"),
        ("file:///etc/passwd", "must be an http or https URL"),
        ("example.com/hook", "must be an http or https URL"),
        ("http:///hook", "has no host"),
        ("http://user:secret@example.com/hook", "must not carry a user name or password"),
        ("http://example.com:99999/hook", "is not a valid URL"),
        ("http://example.com/" + "a" * 2048, "must be at most 2048 characters long"),
        ("http://no-such-host.invalid/hook", "must reach a public address"),
    ],
)
def test_callback_that_is_not_a_reachable_http_url_is_invalid_parameter(hooked, where, says):
    status, code, message = error_of(submit(hooked, BODY, where))
    assert (status, code) == (400, "InvalidParameter")
    assert says in message and "secret" not in message and len(message) < 300


def test_delivery_connects_to_the_address_it_resolved_sending_the_url_host(tmp_path, receiver):
    answers = {"hooks.example": ["127.0.0.1"]}
    guard = CallbackGuard([f"hooks.example:{receiver.port}"], resolve=lambda host, port: answers[host])
    deliveries, _ = outbox(tmp_path, guard, f"http://hooks.example:{receiver.port}/named")
    assert deliveries.run_once()
    [hook] = receiver.wait("/named")
    assert hook.headers["host"] == f"hooks.example:{receiver.port}"
    assert verify(WebhookSecrets(deliveries.db).for_account(1), hook)


def test_a_name_resolving_to_a_private_address_at_delivery_is_not_posted_to(tmp_path):
    """Between submission and delivery a name may come to resolve inside (DNS rebinding): each
    try checks what it resolves to now."""
    answers = {"rebind.example": ["93.184.215.14"]}
    guard = CallbackGuard([], resolve=lambda host, port: answers[host])
    assert guard.check("http://rebind.example/hook") == "http://rebind.example/hook"  # public at submission
    answers["rebind.example"] = ["93.184.215.14", "10.0.0.7"]  # one private address among them
    deliveries, db = outbox(tmp_path, guard, "http://rebind.example/hook")
    assert deliveries.run_once()
    row = stored(db)
    assert row.state == DeliveryState.PENDING and row.attempts == 1 and row.next_attempt_at > time.time()
    assert row.last_error.startswith("X-Imagescope-Callback must reach a public address")


def test_task_purged_before_delivery_is_given_up_without_a_post(tmp_path, receiver):
    guard = CallbackGuard([f"127.0.0.1:{receiver.port}"])
    deliveries, db = outbox(tmp_path, guard, receiver.url("/purged"), render=lambda *_: None)
    assert deliveries.run_once()
    assert not deliveries.run_once()  # nothing left to try
    row = stored(db)
    assert row.state == DeliveryState.GIVEN_UP and row.last_error == "task purged before delivery"
    assert receiver.at("/purged") == []


# --- the outbox, written by every end ---------------------------------------------------------


def _running(store: TaskStore, task_id: str) -> str:
    assert store.claim_next(lambda *_: 1, "p1", -1) == task_id  # a lease already run out
    return task_id


def _lease_lost_on_last_attempt(store: TaskStore, task_id: str) -> None:
    _running(store, task_id)
    assert store.recover_expired(max_attempts=1) == ([], [task_id])


def _faulted_then_overdue(store: TaskStore, task_id: str) -> None:
    assert store.defer(_running(store, task_id), "p1", deadline_s=60) is TaskStatus.PENDING
    assert store.fail_overdue(faulted_before=time.time() + 1) == [task_id]


END_PATHS = {
    "complete with an image": ("task.succeeded", lambda s, t: s.complete(_running(s, t), "p1", [IMAGE], None)),
    "complete with no image": ("task.failed", lambda s, t: s.complete(_running(s, t), "p1", [FAILURE], None)),
    "fail": ("task.failed", lambda s, t: s.fail(t, "InternalError", "m")),
    "cancel pending": ("task.canceled", lambda s, t: s.cancel(t, 1)),
    "cancel running": ("task.canceled", lambda s, t: s.cancel(_running(s, t), 1)),
    "lease run out on the last attempt": ("task.failed", _lease_lost_on_last_attempt),
    "fault past its deadline": ("task.failed", lambda s, t: s.defer(_running(s, t), "p1", deadline_s=0)),
    "faulted, then overdue while waiting": ("task.failed", _faulted_then_overdue),
}
IMAGE = ImagePart(0, "k", 512, 512)
FAILURE = ErrorPart(0, "InvalidParameter", "m")


@pytest.mark.parametrize("path", END_PATHS)
def test_every_end_of_a_task_queues_its_webhook_in_the_ending_transaction(tmp_path, path):
    event, end = END_PATHS[path]
    db = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    Accounts(db).create_key("default")
    ends: list[TaskEnd] = []
    store = TaskStore(db, on_end=ends.append)
    request = GenerationRequest("wan2.2-t2i-flash", "p", "", (512, 512), 1, 1, False, False)
    task = store.create(Caller(1, 1, ""), "text2image", request, "r", callback=Callback("http://x.example/", "b"))
    plain = store.create(Caller(1, 1, ""), "text2image", request, "r")  # no callback: no webhook
    assert store.cancel(plain.id, 1) and not ends[-1].webhook
    end(store, task.id)
    assert store.get(task.id).status.value == event.split(".")[1].upper()
    assert ends[-1].task_id == task.id and ends[-1].webhook  # the delivery loop is woken
    row = stored(db)
    assert (row.task_id, row.event, row.state, row.url) == (task.id, event, DeliveryState.PENDING, "http://x.example/")

    assert set(store.purge(older_than=time.time() + 1)) == {plain.id, task.id}
    with Session(db) as session:
        assert session.scalars(select(TaskCallback)).all() == []  # purged with its task
        assert session.scalars(select(WebhookDelivery)).one().state == DeliveryState.PENDING  # the loop gives it up


def test_a_purge_drops_webhooks_finished_before_its_cutoff(tmp_path, receiver):
    deliveries, db = outbox(tmp_path, CallbackGuard([f"127.0.0.1:{receiver.port}"]), receiver.url("/kept"))
    assert deliveries.run_once() and stored(db).state == DeliveryState.DELIVERED
    TaskStore(db).purge(older_than=time.time() - 60)
    assert stored(db).state == DeliveryState.DELIVERED  # finished after the cutoff: kept
    TaskStore(db).purge(older_than=time.time() + 1)
    with Session(db) as session:
        assert session.scalars(select(WebhookDelivery)).all() == []


def outbox(tmp_path, guard: CallbackGuard, url: str, render=None) -> tuple[Deliveries, Database]:
    """A delivery loop (the server's, in this process) over a database holding one due webhook
    of account 1's task "t1", whose body is rendered as ``render`` says (default: a fixed one)."""
    db = open_database(f"sqlite:///{tmp_path / 'outbox.db'}")
    assert Accounts(db).create_account("default").id == 1
    with Session(db) as session, session.begin():
        now = time.time()
        session.add(
            WebhookDelivery(
                id="dlv_t1",
                task_id="t1",
                account_id=1,
                url=url,
                base_url="http://imagescope.test",
                event="task.succeeded",
                state=DeliveryState.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    body = render or (lambda task_id, account_id, base: {"output": {"task_id": task_id}})
    return Deliveries(db, "test-owner", guard, WebhookSecrets(db), body), db


def stored(db: Database) -> WebhookDelivery:
    with Session(db) as session:
        return session.scalars(select(WebhookDelivery)).one()

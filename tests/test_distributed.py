"""One deployment as ``deploy/compose.yaml`` runs it, each process a real subprocess with a data
directory of its own (a machine of its own): PostgreSQL, an S3 store, ``imagescope migrate`` once,
one API process (``serve --workers 0``) and two ``imagescope worker`` processes. Started once for
the module; a test that stops a worker has it started again before the next one.

The S3 store is moto's server mode, in MinIO's place (no MinIO binary can be installed on these
machines; the compose file runs MinIO). Every process gets the variables of :func:`deployment_env`
and runs ``API_ARGS``, ``WORKER_ARGS`` or ``MIGRATE_ARGS``; the last tests read the compose file,
the Kubernetes example and the Dockerfiles and check that they run exactly these, so the deployment
files run what this suite runs. The slow task is ``test_workers``'s: a prompt rewrite that takes
as long as its prompt asks.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dashscope
import psycopg
import pytest
import requests
import yaml
from dashscope import ImageSynthesis

from conftest import Server, download, free_port
from test_s3_storage import CREDENTIALS, PREFIX, MotoS3, files_on_disk
from test_workers import FAST, SlowChat, TaskRows, WorkerProcess, slow, submit

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"

# The commands, after `imagescope`; {host} and {port} are where the API listens (compose: 0.0.0.0:8000).
API_ARGS = ("serve", "--host", "{host}", "--port", "{port}", "--workers", "0")
WORKER_ARGS = ("worker", "--concurrency", "1")  # one task at a time: one GPU
MIGRATE_ARGS = ("migrate",)
LEASE_S = 8.0  # kill -9 costs this long; SIGTERM must cost far less
POLL_S = 5.0  # the workers' fallback poll: only NOTIFY can wake them sooner
SIGNING_KEY = "url-signing.key"  # one secret for every process: compose and Kubernetes mount it there


def deployment_env(
    data_dir: str, database_url: str, storage_url: str, endpoint: str, rewriter_url: str
) -> dict[str, str]:
    """Every variable a process of the deployment gets: the compose file and the Kubernetes
    example set exactly these names (their values are the operator's; empty means the default)."""
    return {
        "IMAGESCOPE_DATA_DIR": data_dir,
        "IMAGESCOPE_DATABASE_URL": database_url,
        "IMAGESCOPE_STORAGE_URL": storage_url,
        "IMAGESCOPE_S3_ENDPOINT_URL": endpoint,
        "IMAGESCOPE_S3_SERVE_THROUGH_API": "false",  # presigned URLs of the bucket
        **CREDENTIALS,
        "IMAGESCOPE_LEASE_SECONDS": str(LEASE_S),
        "IMAGESCOPE_WORKER_POLL_SECONDS": str(POLL_S),
        "IMAGESCOPE_REWRITER_URL": rewriter_url,
        "IMAGESCOPE_REWRITER_MODEL": "qwen-plus",
        "IMAGESCOPE_REWRITER_API_KEY": "",
        "IMAGESCOPE_MODELS_FILE": "",  # the built-in bindings: the preview engine
        "IMAGESCOPE_SUBMIT_RPS": "1000",  # the tests submit faster than the hosted 2 per second
    }


VARIABLES = frozenset(deployment_env("", "", "", "", ""))


def command(args: tuple[str, ...], **values: str) -> list[str]:
    return [arg.format(**values) for arg in args]


@dataclass
class Deployment:
    api: Server
    workers: list[WorkerProcess]
    rows: TaskRows
    moto: MotoS3
    bucket: str
    data_dirs: list[Path]  # every process's, the migrate one-shot's too

    def worker(self, pid: int | None) -> WorkerProcess:
        return next(w for w in self.workers if w.pid == pid)

    def other(self, worker: WorkerProcess) -> WorkerProcess:
        return next(w for w in self.workers if w is not worker)


@pytest.fixture(scope="module")
def deployment(postgres, tmp_path_factory) -> Iterator[Deployment]:
    moto, chat = MotoS3(), SlowChat()
    bucket = moto.bucket()
    database_url = postgres.url(postgres.create_database())  # empty: the migrate one-shot makes the schema
    root = tmp_path_factory.mktemp("deployment")
    signing_key = secrets.token_hex(32)
    data_dirs: list[Path] = []

    def machine(name: str) -> dict[str, str]:
        data_dir = root / name
        data_dir.mkdir()
        (data_dir / SIGNING_KEY).write_text(signing_key)
        data_dirs.append(data_dir)
        variables = deployment_env(str(data_dir), database_url, f"s3://{bucket}/{PREFIX}", moto.endpoint, chat.url)
        return {**os.environ, **variables}

    workers: list[WorkerProcess] = []
    api: Server | None = None
    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "imagescope", *MIGRATE_ARGS],
            env=machine("migrate"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0 and "upgraded from an empty database" in migrate.stdout, migrate.stderr
        workers += [WorkerProcess(machine(f"worker-{i}"), WORKER_ARGS[1:]).launch() for i in range(2)]
        port = free_port()
        api_env = machine("api")
        listening = tuple(command(API_ARGS, host="127.0.0.1", port=str(port)))
        api = Server(Path(api_env["IMAGESCOPE_DATA_DIR"]), api_env, port, serve_args=listening)
        api.start()
        for w in workers:
            w.ready()
        yield Deployment(api, workers, TaskRows.of(database_url), moto, bucket, data_dirs)
    finally:
        for w in workers:
            w.stop()
        if api is not None:
            api.stop()
        chat.httpd.shutdown()
        moto.stop()


@pytest.fixture
def cluster(deployment) -> Deployment:
    """The deployment with both workers running: a test before may have stopped one."""
    stopped = [w for w in deployment.workers if not w.alive]
    for w in stopped:
        w.launch()
    for w in stopped:
        w.ready()
    return deployment


def wait_taken_from(c: Deployment, task_id: str, pid: int, timeout: float = 60) -> float:
    """Seconds until the task is no longer RUNNING on process ``pid``."""
    since = time.monotonic()
    while (row := c.rows.row(task_id))["pid"] == pid and row["status"] == "RUNNING":
        assert time.monotonic() - since < timeout, row
        time.sleep(0.02)
    return time.monotonic() - since


def test_kill_9_on_a_worker_mid_task_the_other_finishes_it_after_the_lease(cluster):
    c = cluster
    task_id = submit(c.api, slow(2.0))
    first = c.rows.wait_running(task_id)
    killed = c.worker(first["pid"])
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait(10)
    taken_after = wait_taken_from(c, task_id, first["pid"])
    assert taken_after > LEASE_S * 2 / 3 - 0.5  # its lease ran out first (renewed every third of it)
    assert c.api.wait(task_id, timeout=60)["output"]["task_status"] == "SUCCEEDED"
    final = c.rows.row(task_id)
    assert final["pid"] == c.other(killed).pid and final["attempts"] == 2  # run again after its lease


def test_sigterm_on_a_worker_gives_its_task_back_at_once_and_the_other_worker_finishes_it(cluster):
    c = cluster
    task_id = submit(c.api, slow(1.0))
    first = c.rows.wait_running(task_id)
    stopped = c.worker(first["pid"])
    stopped.proc.send_signal(signal.SIGTERM)
    taken_after = wait_taken_from(c, task_id, first["pid"])
    assert taken_after < 1.0 + 3.0 < LEASE_S * 2 / 3  # once the rewrite returns, not after the lease
    assert stopped.proc.wait(30) == 0
    assert c.api.wait(task_id, timeout=60)["output"]["task_status"] == "SUCCEEDED"
    final = c.rows.row(task_id)
    assert final["pid"] == c.other(stopped).pid and final["attempts"] == 1  # the given-back run was not spent
    assert "given back to the queue" in "".join(stopped.output)


def test_the_per_account_concurrency_limit_stays_exact_across_the_two_workers(cluster):
    c = cluster
    limited = c.api.new_key("limited")
    c.api.cli("accounts", "set-limits", "limited", "--model", FAST["model"], "--concurrency", "1")
    ids = [submit(c.api, slow(1.0), limited) for _ in range(3)]
    other = submit(c.api, slow(2.0))  # another account's: takes the slot the limit leaves free
    most = most_of_all = 0
    deadline = time.time() + 60
    while time.time() < deadline:
        most = max(most, c.rows.running(ids))
        most_of_all = max(most_of_all, c.rows.running([*ids, other]))
        if all(c.rows.row(i)["status"] in ("SUCCEEDED", "FAILED") for i in [*ids, other]):
            break
        time.sleep(0.01)
    assert [c.api.task(i, limited)["output"]["task_status"] for i in ids] == ["SUCCEEDED"] * 3
    assert most == 1 and most_of_all == 2  # two slots, never two of the limited account's


def test_an_idle_worker_is_woken_by_notify_not_by_its_poll(cluster):
    c = cluster
    time.sleep(1)  # both workers idle, in their poll's wait
    waits = []
    for _ in range(3):
        task_id = submit(c.api, FAST)
        c.api.wait(task_id, timeout=30)
        row = c.rows.row(task_id)
        waits.append(row["scheduled"] - row["submitted"])
        time.sleep(0.3)
    assert max(waits) < 1.0, waits  # the poll would take up to POLL_S


def test_a_long_poll_on_the_api_only_process_answers_at_once_when_a_worker_ends_the_task(cluster):
    c = cluster
    ids = [submit(c.api, slow(1.0)) for _ in range(2)]  # one on each worker
    lags: dict[str, float] = {}

    def long_poll(task_id: str) -> None:
        r = requests.get(f"{c.api.api}/tasks/{task_id}?wait=60", headers=c.api.headers(asynchronous=False), timeout=90)
        answered = time.time()
        assert r.json()["output"]["task_status"] == "SUCCEEDED"
        with psycopg.connect(c.rows.dsn) as connection:
            (ended,) = connection.execute("SELECT end_time FROM tasks WHERE id = %s", (task_id,)).fetchone()
        lags[task_id] = answered - ended

    threads = [threading.Thread(target=long_poll, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert len(lags) == 2
    assert max(lags.values()) < 0.3, lags  # the store's sweep, once a second, would average 0.5 s


def test_results_are_presigned_urls_of_the_bucket_and_no_file_ever_lands_on_a_machines_disk(cluster):
    """Last of the module: its look at the disks covers every task the tests before ran too."""
    c = cluster
    previous = dashscope.base_http_api_url
    dashscope.base_http_api_url = c.api.api  # the only change a user makes
    try:
        rsp = ImageSynthesis.call(api_key=c.api.key, model=FAST["model"], prompt="a lighthouse", n=2, size="768*768")
    finally:
        dashscope.base_http_api_url = previous
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED", rsp
    task_id = rsp.output.task_id
    assert c.rows.row(task_id)["pid"] in {w.pid for w in c.workers}  # a worker ran it, not the API
    assert {f"{PREFIX}/files/{task_id}/0.png", f"{PREFIX}/files/{task_id}/1.png"} <= set(c.moto.keys(c.bucket))
    for i, result in enumerate(rsp.output.results):
        url = urlparse(result.url)
        assert f"{url.scheme}://{url.netloc}" == c.moto.endpoint
        assert url.path == f"/{c.bucket}/{PREFIX}/files/{task_id}/{i}.png"
        assert "X-Amz-Signature" in parse_qs(url.query)
        assert download(result.url).size == (768, 768)
    assert [p for d in c.data_dirs for p in d.rglob("*.png")] == []
    assert {d.name: files_on_disk(d) for d in c.data_dirs} == {d.name: [] for d in c.data_dirs}  # the key alone


# The deployment files run what the tests above run.


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_the_commands_and_variables_of_this_suite():
    services = compose()["services"]
    assert services["api"]["command"] == ["imagescope", *command(API_ARGS, host="0.0.0.0", port="8000")]
    assert services["worker"]["command"] == ["imagescope", *WORKER_ARGS]
    assert services["migrate"]["command"] == ["imagescope", *MIGRATE_ARGS]
    for name in ("api", "worker", "migrate"):
        assert set(services[name]["environment"]) == VARIABLES, name
        assert services[name]["environment"]["IMAGESCOPE_DATA_DIR"] == "/var/lib/imagescope"
        mounts = [s["target"] for s in services[name].get("secrets", [])]
        assert mounts == [f"/var/lib/imagescope/{SIGNING_KEY}"], name
    for name in ("api", "worker"):  # the schema migrated and the bucket made before they start
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert {"postgres", "minio"} <= set(services)
    [gpu] = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["count"] == 1 and gpu["capabilities"] == ["gpu"]


def kubernetes() -> dict[str, list[dict]]:
    """Every object of the Kubernetes example by kind."""
    objects: dict[str, list[dict]] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for item in yaml.safe_load_all(path.read_text()):
            if item:
                objects.setdefault(item["kind"], []).append(item)
    return objects


def test_the_kubernetes_example_runs_the_same_commands_and_variables_with_a_gpu_per_worker():
    objects = kubernetes()
    [config], [secret] = objects["ConfigMap"], objects["Secret"]  # the signing key's: made by kubectl
    assert set(config["data"]) | set(secret["stringData"]) == VARIABLES
    deployments = {d["metadata"]["name"]: d for d in objects["Deployment"]}
    [job] = objects["Job"]
    expected = {
        "imagescope-api": ["imagescope", *command(API_ARGS, host="0.0.0.0", port="8000")],
        "imagescope-worker": ["imagescope", *WORKER_ARGS],
        "imagescope-migrate": ["imagescope", *MIGRATE_ARGS],
    }
    for item in [*deployments.values(), job]:
        name, pod = item["metadata"]["name"], item["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["command"] == expected[name], name
        sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {config["metadata"]["name"], secret["metadata"]["name"]}, name
        key = {m["mountPath"]: m.get("subPath") for m in container["volumeMounts"]}
        assert key[f"/var/lib/imagescope/{SIGNING_KEY}"] == SIGNING_KEY, name
    worker = deployments["imagescope-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    [service] = objects["Service"]
    assert service["spec"]["selector"] == deployments["imagescope-api"]["spec"]["selector"]["matchLabels"]


def pip_installs(dockerfile: Path) -> list[str]:
    """Each ``pip install`` command of the file's RUN instructions, continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    runs = [line.strip()[4:] for line in text.splitlines() if line.strip().startswith("RUN ")]
    return [part.strip() for run in runs for part in re.split(r"&&|;", run) if "pip install" in part]


@pytest.mark.parametrize("name, index", [("Dockerfile", "/whl/cpu"), ("Dockerfile.cuda", None)])
def test_every_pip_install_of_the_dockerfiles_pins_torch_2_13_0(name, index):
    dockerfile = DEPLOY / name
    installs = pip_installs(dockerfile)
    assert len(installs) == 2, installs  # torch first, from its index, then the package
    for install in installs:
        assert re.search(r"(^|\s)torch==2\.13\.0(\s|$)", install), install
    assert (index in installs[0]) if index else "--index-url" not in installs[0]
    text = dockerfile.read_text()
    assert text.startswith("# ") and "\nFROM python:3.11-slim" in text
    for line in re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE):  # the build context is the repository
        *sources, _ = [word for word in line.split() if not word.startswith("--")]
        assert sources and all((ROOT / source).exists() for source in sources), line

"""Schema migrations (Alembic, src/imagescope/migrations): a database made by the previous release
upgrades in place and keeps its tasks, keys and ledger; the embedded SQLite database upgrades
itself on ``serve``, a PostgreSQL one through ``imagescope migrate`` (``serve`` on an out-of-date
one stops naming it); the models in db.py and the migrations' head never disagree.

The previous release's database is built here from a frozen copy of its table definitions
(tests/previous_release.py, commit d37e1c1) with ``create_all``, as that release made it: no
version table. Its rows are written in that release's formats.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest
import requests
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import Session

import previous_release as old
from conftest import Server, download, free_port
from imagescope import migrations
from imagescope.accounting.accounts import hash_key
from imagescope.db import Base, connect, migrate_database, open_database

OLD_KEY = "sk-" + "5a" * 16
ADMIN = "admin-token-for-tests"
HEAD = "0002"


def stored_request(model: str, size: tuple[int, int]) -> str:
    """A request row as the previous release wrote it (GenerationRequest.to_dict)."""
    return json.dumps(
        {
            "model": model,
            "prompt": "old",
            "negative_prompt": "",
            "width": size[0],
            "height": size[1],
            "n": 1,
            "seed": 7,
            "prompt_extend": False,
            "watermark": False,
            "function": "",
            "images": [],
            "mask": "",
            "options": {},
        }
    )


def previous_release_database(url: str, files_dir) -> dict[str, str]:
    """The previous release's schema (``create_all``, no version table) at ``url`` holding a key,
    an ended task with its image file, a queued task, a free-quota override and the ledger."""
    engine = create_engine(url)
    old.Base.metadata.create_all(engine)
    now = time.time()
    done, queued = str(uuid.uuid4()), str(uuid.uuid4())
    with Session(engine) as session, session.begin():
        session.add(old.Account(id=1, name="default", created_at=now - 3600, activated_at=now - 3600, free_only=True))
        session.flush()
        session.add(old.Workspace(id="ws_00112233aabbccdd", account_id=1, name="default", created_at=now - 3600))
        session.flush()
        session.add(
            old.ApiKey(
                id=1,
                account_id=1,
                workspace_id="ws_00112233aabbccdd",
                name="first-start",
                key_hash=hash_key(OLD_KEY),
                key_prefix=OLD_KEY[:9],
                created_at=now - 3600,
            )
        )
        session.add(old.AccountModelSetting(account_id=1, model="qwen-image", free_quota=2))
        common = {"account_id": 1, "api_key_id": 1, "workspace_id": "ws_00112233aabbccdd", "endpoint": "text2image"}
        session.add(
            old.Task(
                id=done,
                **common,
                model="qwen-image",
                status="SUCCEEDED",
                request=stored_request("qwen-image", (1328, 1328)),
                request_id=str(uuid.uuid4()),
                submit_time=now - 60,
                scheduled_time=now - 59,
                end_time=now - 50,
                attempts=1,
                results=json.dumps([{"index": 0, "file": f"{done}/0.png", "width": 64, "height": 48}]),
                actual_prompt="old",
            )
        )
        session.add(
            old.Task(
                id=queued,
                **common,
                model="wan2.2-t2i-flash",
                status="PENDING",
                request=stored_request("wan2.2-t2i-flash", (512, 512)),
                request_id=str(uuid.uuid4()),
                submit_time=now - 10,
                attempts=0,
            )
        )
        session.add(
            old.LedgerEntry(
                task_id=done,
                account_id=1,
                api_key_id=1,
                model="qwen-image",
                images=2,
                unit_price=0.035,
                kind="free",
                amount=0.0,
                at=now - 50,
            )
        )
        session.add(
            old.Invocation(
                task_id=done,
                account_id=1,
                workspace_id="ws_00112233aabbccdd",
                api_key_id=1,
                model="qwen-image",
                submitted_at=now - 60,
                status="SUCCEEDED",
                finished_at=now - 50,
                images=1,
            )
        )
    engine.dispose()
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(picture, "PNG")
    (files_dir / done).mkdir(parents=True)
    (files_dir / done / "0.png").write_bytes(picture.getvalue())
    return {"done": done, "queued": queued}


def imagescope(server: Server, *args: str) -> subprocess.CompletedProcess:
    """A command with the server's environment, its exit status left to the test."""
    return subprocess.run(
        [sys.executable, "-m", "imagescope", *args], env=server._env(), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_of_the_previous_release_upgrades_in_place_and_keeps_tasks_keys_and_ledger(
    backend, tmp_path, request
):
    data = tmp_path / "data"
    env = {"IMAGESCOPE_WORKERS": "1", "IMAGESCOPE_ADMIN_TOKEN": ADMIN}
    if backend == "sqlite":
        url = f"sqlite:///{data / 'imagescope.db'}"
    else:
        postgres = request.getfixturevalue("postgres")
        url = env["IMAGESCOPE_DATABASE_URL"] = postgres.url(postgres.create_database())
    data.mkdir()
    ids = previous_release_database(url, data / "files")
    server = Server(data, env=env, key=OLD_KEY)

    if backend == "postgresql":  # a shared database is upgraded by its operator, once
        refused = imagescope(server, "serve", "--port", str(free_port()))
        assert refused.returncode == 2
        assert "imagescope migrate" in refused.stderr and "revision 0001" in refused.stderr
        migrated = imagescope(server, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert "recognised as revision 0001" in migrated.stdout
        assert f"from revision 0001 to revision {HEAD}" in migrated.stdout
    server.start()  # the embedded SQLite database upgrades itself here
    try:
        assert "No API key existed" not in "".join(server.output)  # the old key counts: none was made
        ended = server.task(ids["done"])["output"]
        assert (ended["task_status"], ended["submit_time"][:4]) == ("SUCCEEDED", time.strftime("%Y"))
        assert download(ended["results"][0]["url"]).size == (64, 48)
        # The task queued before the upgrade runs after it.
        assert server.wait(ids["queued"])["output"]["task_status"] == "SUCCEEDED"
        # The ledger's two free images of qwen-image used the account's quota of two: free-only refuses.
        refused = server.submit({"model": "qwen-image", "input": {"prompt": "x"}})
        assert (refused.status_code, refused.json()["code"]) == (429, "Throttling.AllocationQuota")
        ledger = requests.get(
            f"{server.url}/admin/v1/ledger",
            params={"model": "qwen-image"},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        ).json()
        assert [e["task_id"] for e in ledger["entries"]] == [ids["done"]] and ledger["total_images"] == 2
    finally:
        server.stop()
    db = connect(url)
    assert migrations.state(db).current == HEAD
    assert {"task_callbacks", "webhook_deliveries", "webhook_secrets"} <= set(inspect(db).get_table_names())
    db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_models_in_db_py_and_the_migrations_head_agree(backend, tmp_path, request):
    """``alembic check``: autogenerate finds nothing to do, so no column lands without a migration."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'head.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = open_database(url)
    with db.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_revision_0001_is_the_previous_release_schema(backend, tmp_path, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'r1.db'}"
    else:
        postgres = request.getfixturevalue("postgres")
        url = postgres.url(postgres.create_database())
    db = connect(url)
    with db.begin() as connection:
        command.upgrade(migrations.config(connection), "0001")
    with db.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), old.Base.metadata) == []
    db.dispose()


def test_serve_on_an_empty_postgresql_database_stops_naming_imagescope_migrate_then_starts_after_it(postgres, tmp_path):
    url = postgres.url(postgres.create_database(), password="s3cret-pw")
    server = Server(tmp_path, env={"IMAGESCOPE_DATABASE_URL": url, "IMAGESCOPE_WORKERS": "1"})
    refused = imagescope(server, "serve", "--port", str(free_port()))
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: the database postgresql+psycopg://postgres:***@127.0.0.1:{postgres.port}/{url.rsplit('/', 1)[1]} "
        f"is empty; this release needs revision {HEAD}: run `imagescope migrate` first"
    ]
    assert "s3cret-pw" not in refused.stdout + refused.stderr
    assert imagescope(server, "keys", "list").returncode == 2  # the operator commands too

    first = imagescope(server, "migrate")
    assert first.returncode == 0, first.stderr
    assert f"schema upgraded from an empty database to revision {HEAD}" in first.stdout
    assert "s3cret-pw" not in first.stdout + first.stderr
    again = imagescope(server, "migrate")
    assert f"schema already at revision {HEAD}: nothing to do" in again.stdout
    server.start()
    try:
        assert server.run({"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}})["output"]["task_status"] == (
            "SUCCEEDED"
        )
    finally:
        server.stop()


@pytest.mark.parametrize("command_line", [["serve"], ["migrate"], ["keys", "list"]])
def test_an_unreachable_database_at_start_is_one_line_naming_the_url_with_the_password_masked(command_line, tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://imagescope:s3cret-pw@127.0.0.1:{port}/imagescope"
    server = Server(tmp_path, env={"IMAGESCOPE_DATABASE_URL": url})
    args = [*command_line, "--port", str(free_port())] if command_line == ["serve"] else command_line
    done = imagescope(server, *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: cannot use the database postgresql+psycopg://imagescope:***@127.0.0.1:{port}/imagescope: "
    )
    assert "s3cret-pw" not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_an_unversioned_database_that_is_not_the_previous_release_is_refused_untouched(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "imagescope.db") as db:
        db.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY, something_else TEXT)")
    done = imagescope(Server(data, env={}), "serve", "--port", str(free_port()))
    assert done.returncode == 2
    assert "no version table" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    with sqlite3.connect(data / "imagescope.db") as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["tasks"]


def test_an_unversioned_database_with_this_releases_tables_is_stamped_at_head_and_keeps_its_keys(tmp_path):
    """A build between releases made its database with create_all from today's tables."""
    (tmp_path / "data").mkdir()
    db = create_engine(f"sqlite:///{tmp_path / 'data' / 'imagescope.db'}")
    Base.metadata.create_all(db)
    db.dispose()
    server = Server(tmp_path / "data", env={})
    key = server.new_key("kept")
    listed = imagescope(server, "keys", "list")
    assert listed.returncode == 0 and key[:9] in listed.stdout
    with sqlite3.connect(tmp_path / "data" / "imagescope.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]


def test_a_database_newer_than_this_release_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'data' / 'imagescope.db'}"
    migrate_database(url)
    with sqlite3.connect(tmp_path / "data" / "imagescope.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    done = imagescope(Server(tmp_path / "data", env={}), "keys", "list")
    assert done.returncode == 2
    assert "revision 9999, newer than this release knows" in done.stderr


def _migrate_when_both_are_ready(barrier, url: str, answers) -> None:
    """A process of its own (spawned): upgrades ``url`` the moment the other is ready too."""
    from imagescope.db import connect as connect_database  # a fresh interpreter: imports its own

    db = connect_database(url)
    with db.connect():  # connected, so that neither waits on the other's start-up
        barrier.wait(timeout=60)
    try:
        done = migrations.upgrade(db)
        answers.put((done.before, done.after, done.recognised))
    except Exception as exc:
        answers.put(repr(exc))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_upgrading_one_database_at_once_upgrade_it_once(backend, tmp_path, request):
    if backend == "postgresql":
        postgres = request.getfixturevalue("postgres")
        url = postgres.url(postgres.create_database())
    else:
        url = f"sqlite:///{tmp_path / 'imagescope.db'}"
    previous_release_database(url, tmp_path / "files")
    spawn = multiprocessing.get_context("spawn")
    barrier, answers = spawn.Barrier(2), spawn.Queue()
    processes = [spawn.Process(target=_migrate_when_both_are_ready, args=(barrier, url, answers)) for _ in range(2)]
    for process in processes:
        process.start()
    done = sorted((answers.get(timeout=60) for _ in processes), key=str)
    for process in processes:
        process.join(30)
    assert done == [("0001", HEAD, True), (HEAD, HEAD, False)]

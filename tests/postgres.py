"""A real PostgreSQL server under the tests: Debian's binaries (package ``postgresql``) started
from ``initdb`` into a temporary directory, on a free port, for the test session.

    postgres          the session's server (:class:`Postgres`)
    postgres_url      a fresh database at this release's schema, per test: its URL
    make_postgres     a private server a test may stop and start (the database lost during work)

Skips with the reason when the binaries are missing, except under CI (``CI`` set), where
``.ci/run`` installs the package first and a missing server is a failure. As root, the server
runs as the ``postgres`` user (it refuses root). Durability is off (fsync): tests need speed.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest

TEMPLATE = "imagescope_head"  # a database migrated once; each test's is a copy (CREATE DATABASE … TEMPLATE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


class Postgres:
    """One PostgreSQL server in its own directory; superuser ``postgres``, trust authentication
    on 127.0.0.1 (any password is accepted: URLs with one test the masking)."""

    def __init__(self, bin_dir: Path, port: int | None = None):
        self.bin_dir = bin_dir
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="imagescope-pg-"))
        self.proc: subprocess.Popen | None = None
        self._as_user: dict = {}
        if os.geteuid() == 0:  # postgres refuses to run as root
            self._as_user = {"user": "postgres", "group": "postgres", "extra_groups": []}
            shutil.chown(self.root, "postgres", "postgres")
        initdb = [str(bin_dir / "initdb"), "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust"]
        subprocess.run(
            [*initdb, "-E", "UTF8", "--locale=C", "--no-sync"], check=True, capture_output=True, **self._as_user
        )

    def start(self, timeout: float = 30) -> Postgres:
        options = {
            "port": self.port,
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "max_connections": 300,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the server's, closed with it
        self.proc = subprocess.Popen(
            [str(self.bin_dir / "postgres"), "-D", str(self.root / "data")]
            + [arg for name, value in options.items() for arg in ("-c", f"{name}={value}")],
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._as_user,
        )
        log.close()
        deadline = time.time() + timeout
        while True:
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=1).close()
                return self
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("postgres did not start:\n" + self.log()) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, the data kept."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str, password: str = "") -> str:
        """The SQLAlchemy URL imagescope takes (``IMAGESCOPE_DATABASE_URL``)."""
        user = f"postgres:{password}" if password else "postgres"
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str = "template0") -> str:
        """A new database's name: empty (template0), or a copy of ``template``."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def migrated_database(self) -> str:
        """The URL of a new database at this release's schema."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).fetchone()
        if not exists:
            from imagescope.db import migrate_database

            with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE template0')
            migrate_database(self.url(TEMPLATE))  # disposes its pool: a template must have no sessions
        return self.url(self.create_database(TEMPLATE))


def _server_or_skip() -> Postgres:
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries missing under CI: .ci/run installs Debian's postgresql")
        pytest.skip("PostgreSQL binaries missing (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    return Postgres(bin_dir)


@pytest.fixture(scope="session")
def postgres():
    """The test session's PostgreSQL server."""
    server = _server_or_skip().start()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres) -> str:
    """A fresh database at this release's schema: ``IMAGESCOPE_DATABASE_URL`` for one test."""
    return postgres.migrated_database()


@pytest.fixture
def make_postgres():
    """Private PostgreSQL servers (started), for tests that stop and start one."""
    made: list[Postgres] = []

    def make() -> Postgres:
        server = _server_or_skip().start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.remove()

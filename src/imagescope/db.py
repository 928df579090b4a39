"""Tables and the database engine: SQLite (WAL) embedded, PostgreSQL when shared.

The tables here are the schema's head; every change to them comes with a revision in
migrations/versions (tests/test_migrations.py checks the two agree). :func:`open_database`
hands out a database at that head or stops: the embedded SQLite database upgrades itself, any
other is upgraded by ``imagescope migrate`` (one process, before the servers and workers start).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    Boolean,
    CursorResult,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Update,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry

from imagescope import migrations


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    activated_at: Mapped[float] = mapped_column(Float)  # the free quota's validity counts from here
    free_only: Mapped[bool] = mapped_column(Boolean, default=False)  # refuse paid use


class Workspace(Base):
    """A workspace of an account: each key belongs to one (``X-DashScope-WorkSpace``)."""

    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "ws_…", what clients send
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(128), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; keys are never stored
    key_prefix: Mapped[str] = mapped_column(String(16))  # "sk-1a2b3c" to tell keys apart in listings
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    api_key_id: Mapped[int] = mapped_column(Integer)
    workspace_id: Mapped[str] = mapped_column(String(40), default="")
    endpoint: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    request: Mapped[str] = mapped_column(Text)  # GenerationRequest as JSON
    request_id: Mapped[str] = mapped_column(String(36))
    submit_time: Mapped[float] = mapped_column(Float)  # Unix seconds, UTC
    scheduled_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The process running it, and until when it counts as alive (renewed while it runs).
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Service faults (storage or database failing under a run): when the first one sent the task
    # back to the queue (its retry deadline counts from there), and when it may be claimed again.
    faulted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    retry_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # JSON list, one entry per image (or text part); while RUNNING, the entries made so far.
    results: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, while RUNNING
    actual_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_tasks_account_submit", "account_id", "submit_time"),
        Index("ix_tasks_status_submit", "status", "submit_time"),
    )


class AccountModelSetting(Base):
    """Per-account overrides of the catalog's limits and free quota; model "*" = every model."""

    __tablename__ = "account_model_settings"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    submit_rps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    free_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Submission(Base):
    """Recent task submissions, the window the submission-rate limit looks at."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_submissions_account_model_at", "account_id", "model", "at"),)


class LedgerEntry(Base):
    """One charge: the images of one task billed one way (free quota or paid)."""

    __tablename__ = "ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    account_id: Mapped[int] = mapped_column(Integer)
    api_key_id: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(64))
    images: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(8))  # "free" or "paid"
    amount: Mapped[float] = mapped_column(Float)
    at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_ledger_account_model_at", "account_id", "model", "at"),)


class Invocation(Base):
    """One accepted task, kept after the task itself is purged: what usage reports count."""

    __tablename__ = "invocations"
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer)
    workspace_id: Mapped[str] = mapped_column(String(40))
    api_key_id: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))  # PENDING until the task ends
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    images: Mapped[int] = mapped_column(Integer, default=0)  # successfully generated

    __table_args__ = (Index("ix_invocations_submitted", "submitted_at", "account_id", "model"),)


class TaskCallback(Base):
    """The completion webhook a task's creator asked for (``X-Imagescope-Callback``), kept
    beside the task (a table of its own: the tasks table is not altered)."""

    __tablename__ = "task_callbacks"
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    base_url: Mapped[str] = mapped_column(Text)  # the server as the creator reached it: the body's result URLs


class WebhookDelivery(Base):
    """The outbox: one completion webhook, written in the transaction that ends its task."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # X-Imagescope-Delivery, the same on every try
    task_id: Mapped[str] = mapped_column(String(36), unique=True)  # a task ends once: one delivery
    account_id: Mapped[int] = mapped_column(Integer)  # whose webhook secret signs it
    url: Mapped[str] = mapped_column(Text)
    base_url: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(32))  # task.succeeded, task.failed, task.canceled
    state: Mapped[str] = mapped_column(String(16))  # pending, delivered, given_up
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    # The process trying it now, and until when its claim holds (past it, another may try).
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)  # for operators: "HTTP 500"

    __table_args__ = (Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),)


class WebhookSecret(Base):
    """The key an account's webhooks are signed with; made on first use, replaced by a rotation."""

    __tablename__ = "webhook_secrets"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[float] = mapped_column(Float)


# SQLAlchemy calls it an engine; here "engine" means an image engine (engines/), so the
# database connection pool is a Database and is named ``db``.
Database = Engine


@contextmanager
def write_locked(db: Database) -> Iterator[Session]:
    """A transaction that holds the database's write lock from its first statement.

    Check-then-act decisions (rate windows, concurrency slots, quota) stay exact
    even across several processes sharing the database.
    """
    with Session(db, expire_on_commit=False) as session:
        if db.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        else:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(b"imagescope")})
        yield session
        session.commit()


def rowcount(session: Session, statement: Update) -> int:
    """Rows an UPDATE matched (SQLAlchemy types ``execute`` as a plain Result; an UPDATE's is a CursorResult)."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class DatabaseUnusable(Exception):
    """The database cannot be used as configured: unreachable, a bad URL, an unknown schema.
    The message is one line for the operator, naming the URL with its password masked."""


def masked(url: str) -> str:
    """The URL as it may be shown: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def connect(url: str) -> Database:
    """The database at ``url``, as it is: no connection made yet, the schema unchecked."""
    try:
        if url.startswith("sqlite"):
            path = url.split("sqlite:///", 1)[-1]
            if path and path != ":memory:":
                _make_parent(Path(path), url)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError):
        raise DatabaseUnusable(f"IMAGESCOPE_DATABASE_URL: no driver installed for {masked(url)}") from None
    except ArgumentError:  # not shown: what cannot be parsed cannot have its password masked
        raise DatabaseUnusable("IMAGESCOPE_DATABASE_URL is not a database URL (dialect+driver://…)") from None


def _make_parent(path: Path, url: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnusable(f"cannot create the directory of {masked(url)}: {exc.strerror}") from None


def open_database(url: str) -> Database:
    """The database at ``url``, at this release's schema: SQLite is upgraded in place, any other
    database must be at it already (``imagescope migrate``). Unreachable or out of date: DatabaseUnusable."""
    db = connect(url)
    with _usable(db, url):
        if db.dialect.name == "sqlite":
            migrations.upgrade(db)
            return db
        schema = migrations.state(db)
        if not schema.up_to_date:
            found = f"at revision {schema.current}" if schema.current else "empty"
            if schema.recognised:
                found = f"without a version table (revision {schema.current}, as its tables say)"
            raise DatabaseUnusable(
                f"the database {masked(url)} is {found}; this release needs revision {schema.head}: "
                "run `imagescope migrate` first"
            )
    return db


def migrate_database(url: str) -> migrations.Upgrade:
    """The database at ``url`` upgraded to this release's schema (``imagescope migrate``)."""
    db = connect(url)
    with _usable(db, url):
        done = migrations.upgrade(db)
    db.dispose()
    return done


@contextmanager
def _usable(db: Database, url: str) -> Iterator[None]:
    """What goes wrong opening the database, as one DatabaseUnusable line; the pool closed."""
    try:
        try:
            yield
        except DBAPIError as exc:
            raise DatabaseUnusable(f"cannot use the database {masked(url)}: {reason(exc, url)}") from None
        except migrations.SchemaUnknown as exc:
            raise DatabaseUnusable(f"the database {masked(url)}: {exc}") from None
    except DatabaseUnusable:
        db.dispose()
        raise


def reason(error: DBAPIError, url: str) -> str:
    """The driver's complaint, first line only and never the password."""
    text = (str(error.orig).strip().splitlines() or [type(error.orig).__name__])[0]
    password = make_url(url).password
    return text.replace(str(password), "***") if password else text

"""The tables of imagescope's previous release (commit d37e1c1, before migrations), frozen: what
tests/test_migrations.py builds an old data directory from. Never edit it to follow db.py: it
stands for databases already out there, made by ``Base.metadata.create_all`` with no version table.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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

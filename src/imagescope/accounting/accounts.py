"""Accounts and their API keys. A key is shown once, at creation; only its hash is kept."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagescope.db import Account, AccountModelSetting, ApiKey, Database, Workspace

DEFAULT_ACCOUNT = "default"
DEFAULT_WORKSPACE = "default"  # every account has one; keys belong to it unless told otherwise


@dataclass(frozen=True)
class Caller:
    """Who made a request: the account owns the tasks, the key is recorded with them."""

    account_id: int
    api_key_id: int
    workspace_id: str


@dataclass(frozen=True)
class AccountInfo:
    id: int
    name: str
    activated_at: float
    free_only: bool
    settings: dict[str, dict[str, int | None]]  # model or "*" → submit_rps, concurrency, free_quota


@dataclass(frozen=True)
class KeyInfo:
    id: int
    account: str
    workspace: str
    name: str
    prefix: str
    created_at: float
    revoked: bool


@dataclass(frozen=True)
class WorkspaceInfo:
    id: str
    account: str
    name: str


class UnknownWorkspace(ValueError):
    pass


class WorkspaceExists(ValueError):
    """An account's workspace names are unique: a key or header may name one by its name."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Accounts:
    def __init__(self, db: Database):
        self.db = db

    def _account(self, session: Session, name: str) -> Account:
        account = session.scalar(select(Account).where(Account.name == name))
        if account is None:
            now = time.time()
            account = Account(name=name, created_at=now, activated_at=now, free_only=False)
            session.add(account)
            session.flush()
            self._add_workspace(session, account, DEFAULT_WORKSPACE)
        return account

    def _add_workspace(self, session: Session, account: Account, name: str) -> Workspace:
        row = Workspace(id="ws_" + secrets.token_hex(8), account_id=account.id, name=name, created_at=time.time())
        session.add(row)
        session.flush()
        return row

    def _workspace(self, session: Session, account: Account, workspace: str | None) -> Workspace:
        """The account's workspace named or id'd ``workspace`` (None: the default one)."""
        wanted = workspace or DEFAULT_WORKSPACE
        row = session.scalar(
            select(Workspace).where(
                Workspace.account_id == account.id, (Workspace.id == wanted) | (Workspace.name == wanted)
            )
        )
        if row is None:
            raise UnknownWorkspace(f"account '{account.name}' has no workspace '{wanted}'")
        return row

    def create_workspace(self, account: str, name: str) -> WorkspaceInfo:
        with Session(self.db) as session, session.begin():
            owner = self._account(session, account)
            taken = session.scalar(select(Workspace.id).where(Workspace.account_id == owner.id, Workspace.name == name))
            if taken is not None:
                raise WorkspaceExists(f"account '{owner.name}' already has a workspace '{name}'")
            row = self._add_workspace(session, owner, name)
            return WorkspaceInfo(row.id, owner.name, row.name)

    def list_workspaces(self) -> list[WorkspaceInfo]:
        with Session(self.db) as session:
            rows = session.execute(
                select(Workspace, Account.name).join(Account).order_by(Account.id, Workspace.created_at)
            )
            return [WorkspaceInfo(w.id, acct, w.name) for w, acct in rows]

    def create_key(
        self, account: str = DEFAULT_ACCOUNT, name: str = "", workspace: str | None = None
    ) -> tuple[str, KeyInfo]:
        """A new key of ``account`` in ``workspace`` (id or name; None: the default workspace)."""
        key = "sk-" + secrets.token_hex(16)
        with Session(self.db) as session, session.begin():
            owner = self._account(session, account)
            space = self._workspace(session, owner, workspace)
            row = ApiKey(
                account_id=owner.id,
                workspace_id=space.id,
                name=name,
                key_hash=hash_key(key),
                key_prefix=key[:9],
                created_at=time.time(),
            )
            session.add(row)
            session.flush()
            info = KeyInfo(row.id, owner.name, space.id, name, row.key_prefix, row.created_at, False)
        return key, info

    def list_keys(self) -> list[KeyInfo]:
        with Session(self.db) as session:
            rows = session.execute(select(ApiKey, Account.name).join(Account).order_by(ApiKey.id)).all()
            return [
                KeyInfo(k.id, acct, k.workspace_id, k.name, k.key_prefix, k.created_at, k.revoked_at is not None)
                for k, acct in rows
            ]

    def revoke(self, key_id: int) -> bool:
        with Session(self.db) as session, session.begin():
            row = session.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = time.time()
            return True

    def has_active_keys(self) -> bool:
        with Session(self.db) as session:
            return session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)) is not None

    def authenticate(self, key: str) -> Caller | None:
        with Session(self.db) as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
            if row is None or row.revoked_at is not None:
                return None
            return Caller(account_id=row.account_id, api_key_id=row.id, workspace_id=row.workspace_id)

    def create_account(self, name: str) -> AccountInfo:
        with Session(self.db) as session, session.begin():
            self._account(session, name)
        info = self.get_account(name)
        assert info is not None, name  # created (or found) just above; accounts are never deleted
        return info

    def get_account(self, name: str) -> AccountInfo | None:
        return next((a for a in self.list_accounts() if a.name == name), None)

    def list_accounts(self) -> list[AccountInfo]:
        with Session(self.db) as session:
            settings: dict[int, dict[str, dict[str, int | None]]] = {}
            for row in session.scalars(select(AccountModelSetting)):
                settings.setdefault(row.account_id, {})[row.model] = {
                    "submit_rps": row.submit_rps,
                    "concurrency": row.concurrency,
                    "free_quota": row.free_quota,
                }
            return [
                AccountInfo(a.id, a.name, a.activated_at, a.free_only, settings.get(a.id, {}))
                for a in session.scalars(select(Account).order_by(Account.id))
            ]

    def set_model_values(self, account: str, model: str = "*", **values: int | None) -> None:
        """Override limits or free quota for one model ("*": all models); None leaves a value as is."""
        with Session(self.db) as session, session.begin():
            owner = self._account(session, account)
            row = session.get(AccountModelSetting, (owner.id, model))
            if row is None:
                row = AccountModelSetting(account_id=owner.id, model=model)
                session.add(row)
            for name, value in values.items():
                if value is not None:
                    setattr(row, name, value)

    def set_free_only(self, account: str, free_only: bool) -> None:
        with Session(self.db) as session, session.begin():
            self._account(session, account).free_only = free_only

    def set_activated_at(self, account: str, when: float) -> None:
        with Session(self.db) as session, session.begin():
            self._account(session, account).activated_at = when

"""Deployment settings, read from the environment (``IMAGESCOPE_*``).

Every duration is configurable so that tests can shorten the 24-hour lifetimes
the hosted service documents.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

DAY = 24 * 3600


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "imagescope"


@dataclass(frozen=True)
class RewriterSettings:
    """Where prompt_extend sends prompts. ``url`` empty: the built-in rule-based rewriter."""

    url: str = ""
    model: str = ""
    api_key: str = ""
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str = ""  # empty: SQLite file in data_dir
    workers: int = 2
    task_ttl_s: float = DAY  # task and its files purged after this
    url_ttl_s: float = DAY  # result URLs valid this long after the task ends
    purge_interval_s: float = 60.0
    public_url: str = ""  # base of result URLs; empty: the Host the client used
    max_attempts: int = 2  # runs of a task interrupted by a crash before it is FAILED
    # A task the storage or database failed under waits in the queue; FAILED this long after its first such fault.
    fault_retry_s: float = 900.0
    lease_s: float = 30.0  # a RUNNING task whose process stopped renewing this long runs again
    sync_timeout_s: float = 600.0  # a synchronous call waits this long for its task at most
    admin_token: str = ""  # Bearer token of the admin API (/admin/v1); empty: admin API off
    # Input images fetched from http(s) URLs: no internal addresses unless allowed.
    input_allow_private: bool = False
    input_allow_hosts: tuple[str, ...] = ()  # exact host:port pairs exempt from the address guard
    input_connect_timeout_s: float = 5.0
    input_read_timeout_s: float = 20.0
    input_total_timeout_s: float = 60.0
    input_max_redirects: int = 3
    rewriter: RewriterSettings = field(default_factory=RewriterSettings)
    # Deployment-wide replacements of catalog values: {model or "*": {field: value}}.
    model_overrides: dict = field(default_factory=dict)
    models_file: Path | None = None  # which engine serves each model (bindings.py); None: built-in
    max_body_bytes: int = 0  # cap of request bodies carrying images; 0: what the catalog's largest needs

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        s = cls()
        if v := env.get("IMAGESCOPE_DATA_DIR"):
            s = replace(s, data_dir=Path(v))
        number_fields = {
            "IMAGESCOPE_WORKERS": ("workers", int),
            "IMAGESCOPE_TASK_TTL_SECONDS": ("task_ttl_s", float),
            "IMAGESCOPE_URL_TTL_SECONDS": ("url_ttl_s", float),
            "IMAGESCOPE_PURGE_INTERVAL_SECONDS": ("purge_interval_s", float),
            "IMAGESCOPE_MAX_ATTEMPTS": ("max_attempts", int),
            "IMAGESCOPE_FAULT_RETRY_SECONDS": ("fault_retry_s", float),
            "IMAGESCOPE_LEASE_SECONDS": ("lease_s", float),
            "IMAGESCOPE_SYNC_TIMEOUT_SECONDS": ("sync_timeout_s", float),
            "IMAGESCOPE_INPUT_CONNECT_TIMEOUT_SECONDS": ("input_connect_timeout_s", float),
            "IMAGESCOPE_INPUT_READ_TIMEOUT_SECONDS": ("input_read_timeout_s", float),
            "IMAGESCOPE_INPUT_TOTAL_TIMEOUT_SECONDS": ("input_total_timeout_s", float),
            "IMAGESCOPE_INPUT_MAX_REDIRECTS": ("input_max_redirects", int),
            "IMAGESCOPE_MAX_BODY_BYTES": ("max_body_bytes", int),
        }
        for name, (attr, kind) in number_fields.items():
            if v := env.get(name):
                s = replace(s, **{attr: kind(v)})
        if v := env.get("IMAGESCOPE_DATABASE_URL"):
            s = replace(s, database_url=v)
        if env.get("IMAGESCOPE_INPUT_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes"):
            s = replace(s, input_allow_private=True)
        if v := env.get("IMAGESCOPE_INPUT_ALLOW_HOSTS"):
            s = replace(s, input_allow_hosts=tuple(h.strip() for h in v.split(",") if h.strip()))
        if v := env.get("IMAGESCOPE_ADMIN_TOKEN"):
            s = replace(s, admin_token=v)
        if v := env.get("IMAGESCOPE_MODELS_FILE"):
            s = replace(s, models_file=Path(v))
        if v := env.get("IMAGESCOPE_PUBLIC_URL"):
            s = replace(s, public_url=v.rstrip("/"))
        rewriter = RewriterSettings(
            url=env.get("IMAGESCOPE_REWRITER_URL", ""),
            model=env.get("IMAGESCOPE_REWRITER_MODEL", ""),
            api_key=env.get("IMAGESCOPE_REWRITER_API_KEY", ""),
            timeout_s=float(env.get("IMAGESCOPE_REWRITER_TIMEOUT_SECONDS", "30")),
        )
        return replace(s, rewriter=rewriter, model_overrides=_model_overrides(env))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'imagescope.db'}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def signing_secret(self) -> bytes:
        """The HMAC key for result URLs; made once per data directory and kept there."""
        path = self.data_dir / "url-signing.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            try:
                os.link(tmp, path)  # atomic: first writer wins when two processes start
            except FileExistsError:
                pass
            tmp.unlink()
        return path.read_text().strip().encode()


_OVERRIDE_ENV = {
    "IMAGESCOPE_SUBMIT_RPS": ("submit_rps", int),
    "IMAGESCOPE_CONCURRENCY": ("concurrency", int),
    "IMAGESCOPE_FREE_QUOTA_IMAGES": ("free_quota", int),
    "IMAGESCOPE_FREE_QUOTA_DAYS": ("free_quota_days", int),
}


def _model_overrides(env: dict[str, str]) -> dict[str, dict[str, float]]:
    """Deployment values for the catalog.

    ``IMAGESCOPE_SUBMIT_RPS=5`` sets every model; ``IMAGESCOPE_PRICES="wan2.5-t2i-preview=0.03,..."``
    sets unit prices per model.
    """
    overrides: dict[str, dict[str, float]] = {}
    for name, (attr, kind) in _OVERRIDE_ENV.items():
        if v := env.get(name):
            overrides.setdefault("*", {})[attr] = kind(v)
    for item in filter(None, env.get("IMAGESCOPE_PRICES", "").split(",")):
        model, _, price = item.partition("=")
        overrides.setdefault(model.strip(), {})["unit_price"] = float(price)
    return overrides

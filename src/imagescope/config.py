"""Deployment settings, read from the environment (``IMAGESCOPE_*``).

One :class:`Settings` class; each field names its variable (``validation_alias``), so that
``grep IMAGESCOPE_WORKERS`` lands here and a bad value's error names the variable. The README's
"Configuration (environment)" table is the contract. Every duration is configurable so that tests
can shorten the 24-hour lifetimes the hosted service documents.

    settings = Settings.from_env()             # os.environ; a bad value: SettingsError naming it
    settings = Settings.from_env({"IMAGESCOPE_WORKERS": "0"})   # that mapping only
    settings = Settings(data_dir=tmp, workers=0)                 # code and tests: by field name
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DAY = 24 * 3600


class SettingsError(Exception):
    """A variable's value cannot be used; the message names the variable, on one line."""


@dataclass(frozen=True)
class InspectionSettings:
    """Content inspection: a word-list file, a moderation endpoint, both or neither (off)."""

    words: Path | None = None
    url: str = ""
    model: str = "omni-moderation-latest"
    api_key: str = ""
    timeout_s: float = 10.0
    fail_open: bool = False  # the endpoint failing: pass unchecked (else refuse)


@dataclass(frozen=True)
class RewriterSettings:
    """Where prompt_extend sends prompts. ``url`` empty: the built-in rule-based rewriter."""

    url: str = ""
    model: str = ""
    api_key: str = ""
    timeout_s: float = 30.0


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "imagescope"


def _env(name: str, default: Any = None, **constraints: Any) -> Any:
    """A field read from the variable ``name``; code still passes it by the field's name."""
    if callable(default):
        return Field(default_factory=default, validation_alias=name, **constraints)
    return Field(default, validation_alias=name, **constraints)


# Comma-separated lists are not JSON: NoDecode hands the raw string to the field's validator.
_Hosts = Annotated[tuple[str, ...], NoDecode]
_Prices = Annotated[dict[str, Annotated[float, Field(ge=0)]], NoDecode]

# Catalog fields the deployment-wide variables replace, for every model ("*").
_CATALOG_FIELDS = {
    "submit_rps": "submit_rps",
    "concurrency": "concurrency",
    "free_quota_images": "free_quota",
    "free_quota_days": "free_quota_days",
}

# The mapping Settings.from_env was given, while it builds from it; None: os.environ.
_GIVEN_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("imagescope_given_env", default=None)


class Settings(BaseSettings):
    """What a deployment sets; each field's ``_env`` names its variable, then the default."""

    model_config = SettingsConfigDict(
        case_sensitive=True,  # the variables are spelled exactly as the README has them
        env_ignore_empty=True,  # IMAGESCOPE_X= (empty) means the default, as it always has
        populate_by_name=True,  # Settings(workers=0) as well as the variable's name
        extra="forbid",  # a misspelt keyword argument is an error, not a silent default
        frozen=True,
    )

    data_dir: Path = _env("IMAGESCOPE_DATA_DIR", _default_data_dir)
    database_url: str = _env("IMAGESCOPE_DATABASE_URL", "")  # empty: SQLite file in data_dir
    workers: int = _env("IMAGESCOPE_WORKERS", 2, ge=0)  # 0: accept tasks, run none
    task_ttl_s: float = _env("IMAGESCOPE_TASK_TTL_SECONDS", DAY, gt=0)  # task and its files purged after this
    url_ttl_s: float = _env("IMAGESCOPE_URL_TTL_SECONDS", DAY, gt=0)  # result URLs valid this long after the task ends
    purge_interval_s: float = _env("IMAGESCOPE_PURGE_INTERVAL_SECONDS", 60.0, gt=0)
    public_url: str = _env("IMAGESCOPE_PUBLIC_URL", "")  # base of result URLs; empty: the Host the client used
    max_attempts: int = _env("IMAGESCOPE_MAX_ATTEMPTS", 2, ge=1)  # runs of a task interrupted by a crash
    # A task the storage or database failed under waits in the queue; FAILED this long after its first such fault.
    fault_retry_s: float = _env("IMAGESCOPE_FAULT_RETRY_SECONDS", 900.0, ge=0)
    lease_s: float = _env("IMAGESCOPE_LEASE_SECONDS", 30.0, gt=0)  # a RUNNING task not renewed this long runs again
    sync_timeout_s: float = _env("IMAGESCOPE_SYNC_TIMEOUT_SECONDS", 600.0, gt=0)  # a synchronous call's longest wait
    # Idle workers look for tasks this often; unset: 0.2 s on SQLite, 2 s on PostgreSQL (NOTIFY wakes them there).
    worker_poll_s: float | None = _env("IMAGESCOPE_WORKER_POLL_SECONDS", None, gt=0)
    admin_token: str = _env("IMAGESCOPE_ADMIN_TOKEN", "")  # Bearer token of /admin/v1; empty: admin API off
    # Input images fetched from http(s) URLs: no internal addresses unless allowed.
    input_allow_private: bool = _env("IMAGESCOPE_INPUT_ALLOW_PRIVATE", False)
    input_allow_hosts: _Hosts = _env("IMAGESCOPE_INPUT_ALLOW_HOSTS", ())  # host:port pairs exempt from the guard
    input_connect_timeout_s: float = _env("IMAGESCOPE_INPUT_CONNECT_TIMEOUT_SECONDS", 5.0, gt=0)
    input_read_timeout_s: float = _env("IMAGESCOPE_INPUT_READ_TIMEOUT_SECONDS", 20.0, gt=0)
    input_total_timeout_s: float = _env("IMAGESCOPE_INPUT_TOTAL_TIMEOUT_SECONDS", 60.0, gt=0)
    input_max_redirects: int = _env("IMAGESCOPE_INPUT_MAX_REDIRECTS", 3, ge=0)
    # Completion webhooks (X-Imagescope-Callback) go to public addresses only, but for these host:port pairs.
    callback_allow_hosts: _Hosts = _env("IMAGESCOPE_CALLBACK_ALLOW_HOSTS", ())
    # prompt_extend's rewriter, handed out together as ``rewriter``.
    rewriter_url: str = _env("IMAGESCOPE_REWRITER_URL", "")
    rewriter_model: str = _env("IMAGESCOPE_REWRITER_MODEL", "")
    rewriter_api_key: str = _env("IMAGESCOPE_REWRITER_API_KEY", "")
    rewriter_timeout_s: float = _env("IMAGESCOPE_REWRITER_TIMEOUT_SECONDS", 30.0, gt=0)
    # Content inspection (inspection/), handed out together as ``inspection``; nothing set: off.
    inspection_words: Path | None = _env("IMAGESCOPE_INSPECTION_WORDS", None)  # a word-list file
    inspection_url: str = _env("IMAGESCOPE_INSPECTION_URL", "")  # an OpenAI-compatible moderation endpoint
    inspection_model: str = _env("IMAGESCOPE_INSPECTION_MODEL", "omni-moderation-latest")
    inspection_api_key: str = _env("IMAGESCOPE_INSPECTION_API_KEY", "")
    inspection_timeout_s: float = _env("IMAGESCOPE_INSPECTION_TIMEOUT_SECONDS", 10.0, gt=0)
    # The endpoint failing: "closed" refuses (503 at submission), "open" passes unchecked (logged).
    inspection_on_error: Literal["closed", "open"] = _env("IMAGESCOPE_INSPECTION_ON_ERROR", "closed")
    # Catalog values for every model; None: the catalog's own (see model_overrides).
    submit_rps: int | None = _env("IMAGESCOPE_SUBMIT_RPS", None, ge=0)
    concurrency: int | None = _env("IMAGESCOPE_CONCURRENCY", None, ge=0)
    free_quota_images: int | None = _env("IMAGESCOPE_FREE_QUOTA_IMAGES", None, ge=0)
    free_quota_days: int | None = _env("IMAGESCOPE_FREE_QUOTA_DAYS", None, ge=0)
    # model → unit price in USD, "m=0.03,…"; a video model's per second, "m=0.1" or per tier "m@1080P=0.15"
    prices: _Prices = _env("IMAGESCOPE_PRICES", dict)
    # Deployment-wide replacements of catalog values: {model or "*": {field: value}}: the five
    # variables above, then what code passes (which wins). Declared after them: it reads them.
    model_overrides: dict[str, dict[str, int | float]] = Field(default_factory=dict, validate_default=True)
    models_file: Path | None = _env("IMAGESCOPE_MODELS_FILE", None)  # which engine serves each model; None: built-in
    # Cap of request bodies carrying images; 0: what the catalog's largest needs.
    max_body_bytes: int = _env("IMAGESCOPE_MAX_BODY_BYTES", 0, ge=0)
    # Results and uploads in an S3-compatible bucket, s3://BUCKET/PREFIX; empty: files under data_dir.
    storage_url: str = _env("IMAGESCOPE_STORAGE_URL", "")
    s3_endpoint_url: str = _env("IMAGESCOPE_S3_ENDPOINT_URL", "")  # MinIO, Ceph, R2, OSS...; empty: AWS
    # Result URLs through the API's signed /files URLs, not presigned ones of the bucket (clients cannot reach it).
    s3_serve_through_api: bool = _env("IMAGESCOPE_S3_SERVE_THROUGH_API", False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``env`` (default: ``os.environ``) and nothing else; a bad value raises
        :class:`SettingsError` naming its variable."""
        with _given(env):
            try:
                return cls()
            except ValidationError as exc:
                raise SettingsError(describe(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments, then the variables; no .env file or secrets directory: the
        # environment is the whole contract.
        return init_settings, _Environment(settings_cls, _GIVEN_ENV.get())

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")  # result URLs append "/files/..."

    @field_validator("storage_url")
    @classmethod
    def _s3_bucket_and_prefix(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment):
            raise ValueError(f"must be s3://BUCKET or s3://BUCKET/PREFIX, not {value!r}")
        return value

    @field_validator("inspection_words")
    @classmethod
    def _readable_word_list(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                value.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror or str(exc)
                raise ValueError(f"the word list {str(value)!r} cannot be read: {reason}") from None
        return value

    @field_validator("inspection_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a port out of range, a broken [IPv6] literal
            usable = False
        if value and not usable:
            raise ValueError(f"must be an http(s) URL, not {value!r}")
        return value

    @field_validator("input_allow_hosts", "callback_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(host.strip() for host in value.split(",") if host.strip())
        return value

    @field_validator("callback_allow_hosts")
    @classmethod
    def _host_and_port(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                parts = urlsplit("//" + entry)
                usable = bool(parts.hostname) and parts.port is not None
            except ValueError:  # a port out of range, a broken [IPv6] literal
                usable = False
            if not usable:
                raise ValueError(f"each item is HOST:PORT, not {entry!r}")
        return value

    @field_validator("prices", mode="before")
    @classmethod
    def _split_prices(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        prices = {}
        for item in filter(None, (item.strip() for item in value.split(","))):
            model, equals, price = item.partition("=")
            if not equals or not model.strip():
                raise ValueError(f"each item is MODEL=PRICE, not {item!r}")
            prices[model.strip()] = price.strip()
        return prices

    @field_validator("model_overrides")
    @classmethod
    def _with_catalog_variables(
        cls, given: dict[str, dict[str, int | float]], info: ValidationInfo
    ) -> dict[str, dict[str, int | float]]:
        overrides: dict[str, dict[str, int | float]] = {}
        for name, catalog_field in _CATALOG_FIELDS.items():
            if info.data.get(name) is not None:
                overrides.setdefault("*", {})[catalog_field] = info.data[name]
        for model, price in info.data.get("prices", {}).items():
            # "MODEL@TIER": a video model's price per second at one tier (models/video.py)
            name, at, tier = model.partition("@")
            overrides.setdefault(name, {})[f"unit_price@{tier.upper()}" if at else "unit_price"] = price
        for model, values in given.items():
            overrides.setdefault(model, {}).update(values)
        return overrides

    @property
    def rewriter(self) -> RewriterSettings:
        return RewriterSettings(self.rewriter_url, self.rewriter_model, self.rewriter_api_key, self.rewriter_timeout_s)

    @property
    def inspection(self) -> InspectionSettings:
        return InspectionSettings(
            self.inspection_words,
            self.inspection_url,
            self.inspection_model,
            self.inspection_api_key,
            self.inspection_timeout_s,
            fail_open=self.inspection_on_error == "open",
        )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'imagescope.db'}"

    @property
    def s3_location(self) -> tuple[str, str]:
        """The bucket of ``storage_url`` and its key prefix, empty or ending in ``/``."""
        parts = urlsplit(self.storage_url)
        prefix = parts.path.strip("/")
        return parts.netloc, f"{prefix}/" if prefix else ""

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


def variable(field_name: str) -> str:
    """The environment variable of a field of :class:`Settings`."""
    alias = Settings.model_fields[field_name].validation_alias
    return alias if isinstance(alias, str) else field_name


def describe(error: ValidationError) -> str:
    """A validation error of :class:`Settings` on one line, each problem led by its variable."""
    problems = []
    for item in error.errors(include_url=False):
        name, *inner = item["loc"] or ("?",)
        if str(name) in Settings.model_fields:  # given by field name (keyword argument)
            name = variable(str(name))
        where = f"{name} ({'.'.join(map(str, inner))})" if inner else str(name)
        message = item["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        shown = "" if item["type"] in ("value_error", "missing") else f", not {item['input']!r}"
        problems.append(f"{where}: {message}{shown}")
    return "; ".join(problems)


class _Environment(EnvSettingsSource):
    """``os.environ``, or the mapping :meth:`Settings.from_env` was given: the variables only."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None) -> None:
        super().__init__(settings_cls)
        if environ is not None:  # as EnvSettingsSource reads os.environ: case kept, empty ignored
            self.env_vars = {name: value for name, value in environ.items() if value != ""}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # The field's variable only: not its name too (populate_by_name would read "workers"), and
        # nothing for a field without one (model_overrides: built from the variables, or given).
        name = field.validation_alias
        if not isinstance(name, str):
            return None, field_name, False
        return self.env_vars.get(name), name, self.field_is_complex(field)


@contextmanager
def _given(env: Mapping[str, str] | None) -> Iterator[None]:
    token = _GIVEN_ENV.set(None if env is None else dict(env))
    try:
        yield
    finally:
        _GIVEN_ENV.reset(token)

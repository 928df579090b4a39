"""Settings: every IMAGESCOPE_* variable, its default and its parsing; a bad value refused
naming the variable, and ``imagescope serve`` stopping on it with one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imagescope.config import DAY, RewriterSettings, Settings, SettingsError, variable

README = Path(__file__).resolve().parents[1] / "README.md"

# variable → (field, a value as written in the environment, the value it becomes, the default)
VARIABLES = {
    "IMAGESCOPE_DATA_DIR": (
        "data_dir",
        "/srv/imagescope",
        Path("/srv/imagescope"),
        Path.home() / ".local" / "share" / "imagescope",
    ),
    "IMAGESCOPE_DATABASE_URL": (
        "database_url",
        "sqlite:////srv/imagescope/db.sqlite",
        "sqlite:////srv/imagescope/db.sqlite",
        "",
    ),
    "IMAGESCOPE_WORKERS": ("workers", "0", 0, 2),
    "IMAGESCOPE_TASK_TTL_SECONDS": ("task_ttl_s", "3", 3.0, DAY),
    "IMAGESCOPE_URL_TTL_SECONDS": ("url_ttl_s", "60", 60.0, DAY),
    "IMAGESCOPE_PURGE_INTERVAL_SECONDS": ("purge_interval_s", "0.5", 0.5, 60.0),
    "IMAGESCOPE_PUBLIC_URL": ("public_url", "https://img.example.com/", "https://img.example.com", ""),
    "IMAGESCOPE_MAX_ATTEMPTS": ("max_attempts", "5", 5, 2),
    "IMAGESCOPE_FAULT_RETRY_SECONDS": ("fault_retry_s", "1", 1.0, 900.0),
    "IMAGESCOPE_LEASE_SECONDS": ("lease_s", "3", 3.0, 30.0),
    "IMAGESCOPE_SYNC_TIMEOUT_SECONDS": ("sync_timeout_s", "0.5", 0.5, 600.0),
    "IMAGESCOPE_WORKER_POLL_SECONDS": ("worker_poll_s", "5", 5.0, None),
    "IMAGESCOPE_ADMIN_TOKEN": ("admin_token", "s3cret", "s3cret", ""),
    "IMAGESCOPE_INPUT_ALLOW_PRIVATE": ("input_allow_private", "yes", True, False),
    "IMAGESCOPE_INPUT_ALLOW_HOSTS": (
        "input_allow_hosts",
        "127.0.0.1:9000, ,cdn:443",
        ("127.0.0.1:9000", "cdn:443"),
        (),
    ),
    "IMAGESCOPE_CALLBACK_ALLOW_HOSTS": (
        "callback_allow_hosts",
        "127.0.0.1:9000, ,hooks:443",
        ("127.0.0.1:9000", "hooks:443"),
        (),
    ),
    "IMAGESCOPE_INPUT_CONNECT_TIMEOUT_SECONDS": ("input_connect_timeout_s", "1", 1.0, 5.0),
    "IMAGESCOPE_INPUT_READ_TIMEOUT_SECONDS": ("input_read_timeout_s", "2", 2.0, 20.0),
    "IMAGESCOPE_INPUT_TOTAL_TIMEOUT_SECONDS": ("input_total_timeout_s", "3", 3.0, 60.0),
    "IMAGESCOPE_INPUT_MAX_REDIRECTS": ("input_max_redirects", "0", 0, 3),
    "IMAGESCOPE_REWRITER_URL": ("rewriter_url", "http://llm:8080/v1", "http://llm:8080/v1", ""),
    "IMAGESCOPE_REWRITER_MODEL": ("rewriter_model", "qwen3", "qwen3", ""),
    "IMAGESCOPE_REWRITER_API_KEY": ("rewriter_api_key", "sk-x", "sk-x", ""),
    "IMAGESCOPE_REWRITER_TIMEOUT_SECONDS": ("rewriter_timeout_s", "5", 5.0, 30.0),
    "IMAGESCOPE_INSPECTION_WORDS": ("inspection_words", __file__, Path(__file__), None),
    "IMAGESCOPE_INSPECTION_URL": ("inspection_url", "http://mod:8080/v1", "http://mod:8080/v1", ""),
    "IMAGESCOPE_INSPECTION_MODEL": ("inspection_model", "m", "m", "omni-moderation-latest"),
    "IMAGESCOPE_INSPECTION_API_KEY": ("inspection_api_key", "sk-m", "sk-m", ""),
    "IMAGESCOPE_INSPECTION_TIMEOUT_SECONDS": ("inspection_timeout_s", "2", 2.0, 10.0),
    "IMAGESCOPE_INSPECTION_ON_ERROR": ("inspection_on_error", "open", "open", "closed"),
    "IMAGESCOPE_SUBMIT_RPS": ("submit_rps", "5", 5, None),
    "IMAGESCOPE_CONCURRENCY": ("concurrency", "3", 3, None),
    "IMAGESCOPE_FREE_QUOTA_IMAGES": ("free_quota_images", "10", 10, None),
    "IMAGESCOPE_FREE_QUOTA_DAYS": ("free_quota_days", "30", 30, None),
    "IMAGESCOPE_PRICES": ("prices", "qwen-image=0.03, wan2.6-t2i=0.2", {"qwen-image": 0.03, "wan2.6-t2i": 0.2}, {}),
    "IMAGESCOPE_MODELS_FILE": ("models_file", "/etc/imagescope/models.toml", Path("/etc/imagescope/models.toml"), None),
    "IMAGESCOPE_MAX_BODY_BYTES": ("max_body_bytes", "2097152", 2097152, 0),
    "IMAGESCOPE_STORAGE_URL": ("storage_url", "s3://results/imagescope", "s3://results/imagescope", ""),
    "IMAGESCOPE_S3_ENDPOINT_URL": ("s3_endpoint_url", "http://minio:9000", "http://minio:9000", ""),
    "IMAGESCOPE_S3_SERVE_THROUGH_API": ("s3_serve_through_api", "true", True, False),
}


@pytest.mark.parametrize("name", VARIABLES)
def test_every_variable_is_read_into_its_field_and_defaults_when_unset_or_empty(name):
    field, raw, value, default = VARIABLES[name]
    assert variable(field) == name
    assert getattr(Settings.from_env({name: raw}), field) == value
    assert getattr(Settings.from_env({}), field) == default
    assert getattr(Settings.from_env({name: ""}), field) == default  # IMAGESCOPE_X= : the default
    assert getattr(Settings(**{field: value}), field) == value  # code passes the field's name


def test_the_readme_table_names_only_variables_settings_reads():
    table = README.read_text().partition("## Configuration (environment)")[2].partition("\n## ")[0]
    documented = set(re.findall(r"`(IMAGESCOPE_[A-Z_]+[A-Z])`", table))
    assert documented and documented <= set(VARIABLES)
    read = {variable(field) for field in Settings.model_fields}
    assert read - {"model_overrides"} == set(VARIABLES)  # model_overrides is built, not read


def test_names_are_read_as_written_and_from_the_given_mapping_only(monkeypatch):
    monkeypatch.setenv("IMAGESCOPE_WORKERS", "7")
    assert Settings.from_env().workers == 7 and Settings().workers == 7
    assert Settings.from_env({}).workers == 2  # an explicit mapping: os.environ is not read
    assert Settings.from_env({"IMAGESCOPE_WORKERS": "4"}).workers == 4
    assert Settings.from_env({"imagescope_workers": "4", "WORKERS": "4", "workers": "4"}).workers == 2
    assert Settings(workers=1).workers == 1  # a keyword argument beats the environment


def test_the_catalog_variables_become_model_overrides_and_code_given_ones_win():
    env = {
        "IMAGESCOPE_SUBMIT_RPS": "5",
        "IMAGESCOPE_CONCURRENCY": "3",
        "IMAGESCOPE_FREE_QUOTA_IMAGES": "10",
        "IMAGESCOPE_FREE_QUOTA_DAYS": "30",
        "IMAGESCOPE_PRICES": "qwen-image=0.03,wan2.6-t2i=0.2",
    }
    assert Settings.from_env(env).model_overrides == {
        "*": {"submit_rps": 5, "concurrency": 3, "free_quota": 10, "free_quota_days": 30},
        "qwen-image": {"unit_price": 0.03},
        "wan2.6-t2i": {"unit_price": 0.2},
    }
    assert Settings.from_env({}).model_overrides == {}
    given = Settings(submit_rps=5, model_overrides={"*": {"submit_rps": 1000}, "qwen-image": {"concurrency": 1}})
    assert given.model_overrides == {"*": {"submit_rps": 1000}, "qwen-image": {"concurrency": 1}}
    assert isinstance(given.model_overrides["*"]["submit_rps"], int)  # the catalog's field is an int
    # Only the documented variables: model_overrides is not one itself.
    assert Settings.from_env({"IMAGESCOPE_MODEL_OVERRIDES": '{"*": {"submit_rps": 9}}'}).model_overrides == {}


def test_the_rewriter_settings_come_together():
    env = {
        "IMAGESCOPE_REWRITER_URL": "http://llm/v1",
        "IMAGESCOPE_REWRITER_MODEL": "m",
        "IMAGESCOPE_REWRITER_API_KEY": "k",
        "IMAGESCOPE_REWRITER_TIMEOUT_SECONDS": "5",
    }
    assert Settings.from_env(env).rewriter == RewriterSettings("http://llm/v1", "m", "k", 5.0)
    assert Settings.from_env({}).rewriter == RewriterSettings()


def test_settings_are_frozen_and_copied_with_changes(tmp_path):
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ValueError):
        settings.workers = 3  # type: ignore[misc]
    changed = settings.model_copy(update={"workers": 0, "models_file": tmp_path / "models.toml"})
    assert (changed.workers, changed.models_file, changed.data_dir) == (0, tmp_path / "models.toml", tmp_path)
    assert (settings.db_url, settings.files_dir) == (f"sqlite:///{tmp_path / 'imagescope.db'}", tmp_path / "files")
    with pytest.raises(ValueError, match="bogus"):
        Settings(bogus=1)  # a misspelt keyword is an error, not a silent default


BAD = {  # variable, value → what the error says after "VARIABLE: "
    "IMAGESCOPE_WORKERS=abc": ("IMAGESCOPE_WORKERS", "abc", "must be a valid integer"),
    "negative workers": ("IMAGESCOPE_WORKERS", "-1", "must be greater than or equal to 0, not '-1'"),
    "negative TTL": ("IMAGESCOPE_TASK_TTL_SECONDS", "-5", "must be greater than 0, not '-5'"),
    "zero lease": ("IMAGESCOPE_LEASE_SECONDS", "0", "must be greater than 0"),
    "TTL not a number": ("IMAGESCOPE_URL_TTL_SECONDS", "1d", "must be a valid number"),
    "no attempts": ("IMAGESCOPE_MAX_ATTEMPTS", "0", "must be greater than or equal to 1"),
    "a boolean": ("IMAGESCOPE_INPUT_ALLOW_PRIVATE", "maybe", "must be a valid boolean"),
    "a price item": ("IMAGESCOPE_PRICES", "qwen-image", "each item is MODEL=PRICE, not 'qwen-image'"),
    "a price": ("IMAGESCOPE_PRICES", "qwen-image=cheap", "must be a valid number"),
    "a rate": ("IMAGESCOPE_SUBMIT_RPS", "2.5", "must be a valid integer"),
    "a rewriter timeout": ("IMAGESCOPE_REWRITER_TIMEOUT_SECONDS", "-1", "must be greater than 0"),
}


@pytest.mark.parametrize("name, value, message", BAD.values(), ids=BAD.keys())
def test_a_bad_value_is_refused_naming_the_variable(name, value, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    text = str(error.value)
    assert text.startswith(f"{name}") and message in text
    assert "\n" not in text and "pydantic" not in text and "For further information" not in text


def test_every_bad_value_is_named_on_the_one_line():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"IMAGESCOPE_WORKERS": "abc", "IMAGESCOPE_LEASE_SECONDS": "0"})
    assert str(error.value).startswith("IMAGESCOPE_WORKERS: ") and "; IMAGESCOPE_LEASE_SECONDS: " in str(error.value)


@pytest.mark.parametrize("args", [["serve", "--port", "9"], ["keys", "list"]], ids=["serve", "keys list"])
def test_the_command_line_stops_on_a_bad_value_with_one_line_and_status_2(tmp_path, args):
    env = {**os.environ, "IMAGESCOPE_DATA_DIR": str(tmp_path / "data"), "IMAGESCOPE_WORKERS": "abc"}
    done = subprocess.run(
        [sys.executable, "-m", "imagescope", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: IMAGESCOPE_WORKERS: must be a valid integer, unable to parse string as an integer, not 'abc'"
    ]
    assert done.stdout == "" and not (tmp_path / "data").exists()  # nothing was started or written

"""The CLI contract: first start prints a key; ``keys create`` prints the key as its last line."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from imagescope.ops.allocator import TUNABLES


def test_first_start_with_no_keys_creates_and_prints_one_and_restart_does_not(make_server):
    s = make_server()
    assert s.key.startswith("sk-")
    assert requests.get(f"{s.api}/tasks", headers=s.headers(asynchronous=False)).status_code == 200
    s.stop()
    s.start()
    assert not any(line.startswith("sk-") for line in s.output)


def test_keys_create_prints_the_key_last_and_it_works_list_hides_it_revoke_disables_it(server):
    out = server.cli("keys", "create", "--name", "ci", "--account", "team-a").stdout
    key = out.strip().splitlines()[-1]
    assert key.startswith("sk-") and len(key) == 35
    assert requests.get(f"{server.api}/tasks", headers=server.headers(key, False)).status_code == 200

    listing = server.cli("keys", "list").stdout
    row = next(line for line in listing.splitlines() if "team-a" in line)
    assert key not in listing and key[:9] in row and "active" in row
    key_id = row.split("│")[1].strip()

    server.cli("keys", "revoke", key_id)
    assert requests.get(f"{server.api}/tasks", headers=server.headers(key, False)).status_code == 401
    assert "revoked" in next(line for line in server.cli("keys", "list").stdout.splitlines() if "team-a" in line)


def test_keys_are_stored_hashed(server):
    import sqlite3

    key = server.new_key()
    db = sqlite3.connect(server.data_dir / "imagescope.db")
    stored = [row[0] for row in db.execute("select key_hash from api_keys")]
    assert key not in stored and all(len(h) == 64 for h in stored)


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_serve_runs_with_glibc_allocator_tuned_unless_the_environment_says_otherwise(server):
    # The serve process re-executed itself in place (same pid) with the tunables set. (ld.so
    # rewrites the string in /proc's copy, so only its presence is checked there.)
    environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
    assert any(entry.startswith(b"GLIBC_TUNABLES=glibc.malloc.") for entry in environ)

    show = "import os; print(os.environ.get('GLIBC_TUNABLES'))"
    script = (
        f"from imagescope.ops.allocator import reexec_tuned; reexec_tuned(['-c', {show!r}]); print('not re-executed')"
    )
    clean = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}

    def run(env: dict[str, str]) -> str:
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True).stdout

    assert run(clean).strip() == TUNABLES
    assert run({**clean, "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}).strip() == "not re-executed"

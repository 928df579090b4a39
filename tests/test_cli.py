"""The CLI contract: first start prints a key; ``keys create`` prints the key as its last line."""

from __future__ import annotations

import requests


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

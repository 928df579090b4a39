"""Result URLs are signed and expire; tasks and files are purged after their lifetime."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from conftest import download


def first_url(server) -> str:
    return server.run({"model": "qwen-image", "input": {"prompt": "x"}})["output"]["results"][0]["url"]


def test_result_url_carries_expiry_24h_after_the_end_and_a_signature(server):
    url = first_url(server)
    query = parse_qs(urlparse(url).query)
    assert set(query) == {"Expires", "Signature"}
    assert abs(int(query["Expires"][0]) - (time.time() + 24 * 3600)) < 60
    download(url)


def other_signature(signature: str) -> str:
    """The same signature with its first character changed (never equal to the original)."""
    return ("B" if signature[0] == "A" else "A") + signature[1:]


def test_tampered_result_url_is_403(server):
    url = first_url(server)
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    tampered = [
        url.replace("/0.png", "/1.png"),
        parts._replace(query=urlencode({**query, "Expires": int(query["Expires"]) + 3600})).geturl(),
        parts._replace(query=urlencode({**query, "Signature": other_signature(query["Signature"])})).geturl(),
        parts._replace(query=urlencode({"Expires": query["Expires"]})).geturl(),
        parts._replace(query="").geturl(),
    ]
    for bad in tampered:
        r = requests.get(bad, timeout=10)
        assert r.status_code == 403, bad
        assert r.json()["code"] == "AccessDenied"


def test_expired_result_url_is_403(make_server):
    s = make_server(IMAGESCOPE_URL_TTL_SECONDS="1")
    url = first_url(s)
    time.sleep(2.1)
    assert requests.get(url, timeout=10).status_code == 403


def test_task_and_files_are_purged_after_the_lifetime_and_then_read_unknown(make_server):
    s = make_server(IMAGESCOPE_TASK_TTL_SECONDS="2", IMAGESCOPE_PURGE_INTERVAL_SECONDS="0.3")
    done = s.run({"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}, "parameters": {"n": 2}})
    task_id = done["output"]["task_id"]
    files = s.data_dir / "files" / task_id
    assert len(list(files.glob("*.png"))) == 2
    time.sleep(3)
    assert s.task(task_id)["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    deadline = time.time() + 5
    while files.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not files.exists()
    r = requests.get(f"{s.api}/tasks", headers=s.headers(asynchronous=False), timeout=10)
    assert r.json()["total"] == 0

"""Renders the README's pictures of the web console: docs/console-playground.png (a result),
docs/console-tasks.png (the tasks page, one task opened) and docs/console-usage.png.

    python scripts/console_screenshots.py [--chromium /usr/bin/chromium]

Starts ``imagescope serve`` on a free port with a fresh data directory (preview engine, an
admin token), makes a few tasks through the API and the console, and photographs Debian's
Chromium driven by Playwright (no browser download).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from playwright.sync_api import Page, expect, sync_playwright

DOCS = Path(__file__).resolve().parents[1] / "docs"
ADMIN = "screenshots-admin-token"
T2I = "/services/aigc/text2image/image-synthesis"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    """The server, its base URL and the key it printed on its first start."""
    port = free_port()
    env = {**os.environ, "IMAGESCOPE_DATA_DIR": str(data_dir), "IMAGESCOPE_ADMIN_TOKEN": ADMIN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagescope", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("sk-"):
            key = line.strip()
            break
    else:
        raise SystemExit("imagescope serve printed no key")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # the access log must not fill the pipe
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/", timeout=1)
            return proc, url, key
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit("imagescope serve did not answer")


def seed_tasks(url: str, key: str) -> None:
    """A few finished tasks of different models and outcomes for the tasks and usage pages."""
    headers = {"Authorization": f"Bearer {key}", "X-DashScope-Async": "enable"}
    bodies = [
        {"model": "qwen-image-plus", "input": {"prompt": "一只橘猫坐在窗台上，窗外是春天的樱花"}},
        {"model": "wan2.2-t2i-flash", "input": {"prompt": "Snowy ground, a small white chapel, aurora"}},
        {"model": "wan2.2-t2i-plus", "input": {"prompt": "A lighthouse at dusk"}, "parameters": {"n": 2}},
    ]
    for body in bodies:
        task = requests.post(f"{url}/api/v1{T2I}", json=body, headers=headers, timeout=10).json()["output"]["task_id"]
        requests.get(f"{url}/api/v1/tasks/{task}?wait=30", headers=headers, timeout=40)


def photograph(page: Page, url: str, key: str) -> None:
    page.goto(url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_label("Model").select_option("wan2.5-t2i-preview")
    prompt = "A flower shop with exquisite windows, a beautiful wooden door, and flowers on display"
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Width").fill("1280")
    page.get_by_label("Height").fill("960")
    page.get_by_label("Number of images").fill("2")
    page.get_by_label("Seed").fill("12345")
    page.get_by_role("button", name="Generate").click()
    results = page.get_by_role("region", name="Results")
    expect(results.get_by_role("img")).to_have_count(2)
    results.get_by_role("img").evaluate_all(
        "els => Promise.all(els.map(e => e.complete ? 0 : new Promise(r => (e.onload = e.onerror = r))))"
    )
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=DOCS / "console-playground.png", full_page=True)

    page.get_by_role("link", name="Tasks").click()
    first = page.get_by_role("table").get_by_role("button").nth(1)
    first.click()
    page.get_by_role("region", name="Task detail").get_by_role("img").first.wait_for()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=DOCS / "console-tasks.png", full_page=True)

    page.get_by_role("link", name="Admin").click()
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Open admin").click()
    expect(page.get_by_role("button", name="Close admin")).to_be_visible()
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_role("columnheader", name="Spend")).to_be_visible()
    page.screenshot(path=DOCS / "console-usage.png", full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        proc, url, key = serve(Path(data_dir))
        try:
            seed_tasks(url, key)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                photograph(page, url, key)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    for name in ("playground", "tasks", "usage"):
        print(DOCS / f"console-{name}.png")


if __name__ == "__main__":
    main()

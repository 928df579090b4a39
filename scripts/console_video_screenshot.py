"""Renders docs/images/console-video.png: the console's playground with a text-to-video result.

    python scripts/console_video_screenshot.py [--chromium /usr/bin/chromium]

Starts ``imagescope serve`` on a free port with a fresh data directory (preview engine), makes
a 5-second wan2.5-t2v-preview video from the console, seeks it to its middle so the picture
shows a frame of the motion, and photographs Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from console_screenshots import serve  # the same server start as the other console pictures
from playwright.sync_api import Page, expect, sync_playwright

PICTURE = Path(__file__).resolve().parents[1] / "docs" / "images" / "console-video.png"


def photograph(page: Page, url: str, key: str) -> None:
    page.goto(url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Model", exact=True).select_option("wan2.5-t2v-preview")
    page.get_by_label("Prompt", exact=True).fill("A paper boat drifting down a rainy street at dusk, neon reflections")
    page.get_by_label("Size", exact=True).select_option("832*480")
    page.get_by_label("Seed").fill("2024")
    page.get_by_role("button", name="Generate").click()
    results = page.get_by_role("region", name="Results")
    video = results.locator("video")
    expect(video).to_have_count(1, timeout=60_000)
    video.evaluate(
        """v => new Promise(done => {
            const seek = () => { v.addEventListener('seeked', done, {once: true}); v.currentTime = 2.5; };
            if (v.readyState >= 1) seek(); else v.addEventListener('loadedmetadata', seek, {once: true});
        })"""
    )
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=PICTURE, full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    PICTURE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        proc, url, key = serve(Path(data_dir))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                photograph(page, url, key)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    print(PICTURE)


if __name__ == "__main__":
    main()

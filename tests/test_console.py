"""The web console (``GET /``) in a real Chromium, driven by Playwright against a real server.

Debian's ``chromium`` is launched from its path (no browser download); the tests find things by
their accessible names, as a screen reader does. One server and one browser for the module;
each test gets a fresh browser context (its own sessionStorage). super_resolution is bound to
Real-ESRGAN with 32-pixel tiles, so a task runs for minutes yet stops within a tile of a cancel.
"""

from __future__ import annotations

import base64
import fnmatch
import io
import re
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageDraw
from playwright.sync_api import expect, sync_playwright

from conftest import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

ADMIN = "console-admin-token"
SLOW_SUPER_RESOLUTION = """
[engines.sr-small-tiles]
kind = "realesrgan"
tile = 32

[models."wanx2.1-imageedit"]
super_resolution = "sr-small-tiles"
"""
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("console")
    models = root / "models.toml"
    models.write_text(SLOW_SUPER_RESOLUTION)
    env = {"IMAGESCOPE_ADMIN_TOKEN": ADMIN, "IMAGESCOPE_WORKERS": "2", "IMAGESCOPE_MODELS_FILE": str(models)}
    s = Server(root / "data", env=env).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:  # .ci/run installs it
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh tab in its own context; any uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.errors = []  # uncaught exceptions
    tab.console_errors = []
    tab.dialogs = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on("console", lambda message: message.type == "error" and tab.console_errors.append(message.text))
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()
    assert tab.errors == []
    assert tab.dialogs == []


def sign_in(page, server: Server, key: str | None = None) -> None:
    page.goto(server.url + "/")
    page.get_by_label("API key").fill(key or server.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Playground")).to_be_visible()


def png(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (40, 120, 200))
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(240, 200, 60))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload(page, name: str, data: bytes) -> None:
    page.get_by_label("Input images").set_input_files(files=[{"name": name, "mimeType": "image/png", "buffer": data}])
    expect(page.get_by_role("list", name="Chosen images").get_by_role("listitem")).to_have_count(1)


def results(page):
    return page.get_by_role("region", name="Results")


def loaded_sizes(images) -> list[list[int]]:
    """Each image's natural size once every one has loaded (0*0: it failed to)."""
    images.first.wait_for()
    images.evaluate_all(
        "els => Promise.all(els.map(e => e.complete ? 0 : new Promise(r => (e.onload = e.onerror = r))))"
    )
    return images.evaluate_all("els => els.map(e => [e.naturalWidth, e.naturalHeight])")


def task_id_shown(page) -> str:
    match = re.search(r"Task ([0-9a-f-]{36})", results(page).get_by_text("Task ").inner_text())
    assert match
    return match[1]


def cells(*values: object) -> re.Pattern[str]:
    """A table row's text holding these cells, one after another."""
    return re.compile(r"\s+".join(re.escape(str(v)) for v in values))


def admin_api(method: str, server: Server, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, f"{server.url}/admin/v1{path}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10, **kwargs
    )


# --- served files ------------------------------------------------------------------------------


def test_root_serves_the_console_under_a_csp_without_inline_script_and_revalidated_caching(server):
    page = requests.get(server.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "default-src 'self'" in policy and "img-src 'self' data: blob:" in policy
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page.text))  # no inline script
    assert page.headers["cache-control"] == "no-cache" and page.headers["x-content-type-options"] == "nosniff"
    again = requests.get(server.url + "/", headers={"If-None-Match": page.headers["etag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b""

    script = requests.get(server.url + "/console/app.js", timeout=10)
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "no-cache" and script.headers["etag"] != page.headers["etag"]
    for missing in ("/console/nothing.js", "/console/..%2F..%2Fapp.py", "/console/index.html.bak"):
        answer = requests.get(server.url + missing, timeout=10)
        assert (answer.status_code, answer.json()["code"]) == (404, "NotFound")


def test_console_routes_stay_out_of_the_openapi_schema(server):
    paths = requests.get(server.url + "/openapi.json", timeout=10).json()["paths"]
    assert "/" not in paths and not [p for p in paths if p.startswith("/console")]


def test_rules_are_the_catalogs_own(server):
    rules = requests.get(server.url + "/console/rules.json", timeout=10).json()
    qwen = rules["models"]["qwen-image-plus"]
    assert (qwen["n_max"], qwen["prompt_max"], qwen["sizes"]["kind"]) == (1, 800, "fixed")
    assert [1328, 1328] in qwen["sizes"]["allowed"]
    edit = rules["models"]["wanx2.1-imageedit"]
    assert edit["functions"]["super_resolution"] == ["upscale_factor"]
    assert edit["functions"]["description_edit_with_mask"] == ["mask"]
    assert edit["images"]["max_bytes"] == 10 * 2**20 and rules["seed_max"] == 2147483647


def test_rules_give_the_prompt_extend_default_the_server_applies(server):
    # z-image-turbo's is off (its "thinking" doubles the price): the console must not turn it on.
    models = requests.get(server.url + "/console/rules.json", timeout=10).json()["models"]
    assert models["z-image-turbo"]["prompt_extend_default"] is False
    assert models["qwen-image-plus"]["prompt_extend_default"] is True


# --- signing in --------------------------------------------------------------------------------


def test_a_wrong_key_is_told_in_words_and_kept_nowhere(page, server):
    page.goto(server.url + "/")
    page.get_by_label("API key").fill("sk-not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This API key was not accepted: Invalid API-key provided.")
    assert page.evaluate("sessionStorage.length") == 0 and page.context.cookies() == []


def test_sign_in_keeps_the_key_in_the_tabs_session_storage_only(page, server):
    sign_in(page, server)
    assert page.evaluate("sessionStorage.getItem('imagescope.apiKey')") == server.key
    assert page.context.cookies() == []
    page.reload()  # the tab keeps it
    expect(page.get_by_role("button", name="Generate")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


# --- playground --------------------------------------------------------------------------------


def test_playground_shows_only_the_parameters_the_chosen_model_takes(page, server):
    sign_in(page, server)
    model = page.get_by_label("Model")
    groups = model.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert groups == ["Text to image", "Editing", "Video"]
    model.select_option("qwen-image-plus")
    size = page.get_by_label("Size", exact=True)
    assert "1664*928" in size.locator("option").all_inner_texts()
    expect(page.get_by_label("Number of images")).to_have_attribute("max", "1")
    page.get_by_label("Prompt", exact=True).fill("x" * 801)
    expect(page.get_by_text("801 / 800 — beyond 800 characters the prompt is cut")).to_be_visible()

    model.select_option("wanx2.1-imageedit")
    expect(page.get_by_label("Size", exact=True)).to_have_count(0)  # the output follows the input
    page.get_by_label("Function").select_option("expand")
    for side in ("Top scale", "Bottom scale", "Left scale", "Right scale"):
        expect(page.get_by_label(side)).to_have_attribute("max", "2")
    expect(page.get_by_label("Upscale factor")).to_have_count(0)
    page.get_by_label("Function").select_option("doodle")
    expect(page.get_by_label("The input is a sketch")).to_be_visible()


def test_generate_with_a_text_to_image_model_shows_the_images_loaded_with_their_details(page, server):
    sign_in(page, server)
    page.get_by_label("Model").select_option("wan2.2-t2i-flash")
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    page.get_by_label("Width").fill("512")
    page.get_by_label("Height").fill("640")
    page.get_by_label("Number of images").fill("2")
    page.get_by_label("Seed").fill("7")
    page.get_by_role("button", name="Generate").click()

    images = results(page).get_by_role("img")
    expect(images).to_have_count(2)
    assert loaded_sizes(images) == [[512, 640], [512, 640]]
    region = results(page)
    expect(region.get_by_text("SUCCEEDED")).to_be_visible()
    expect(region.get_by_text("512*640")).to_have_count(2)
    assert region.locator("dd").all_inner_texts().count("8") == 1  # the second image's seed: 7 + 1
    expect(region.get_by_text("Preview engine: these images are labelled previews", exact=False)).to_be_visible()
    link = region.get_by_role("link", name="Download image 2")
    assert requests.get(link.get_attribute("href"), timeout=10).headers["content-type"] == "image/png"
    expect(region.get_by_text("Actual prompt")).to_have_count(2)  # prompt_extend on by default
    assert page.console_errors == []


@pytest.mark.parametrize(
    "model",
    [
        "qwen-image-max",  # multimodal-generation only: answered synchronously
        "wan2.6-t2i",  # image-generation: asynchronous, the messages protocol
        "qwen-image-edit-plus",  # editing through messages, with an uploaded image
    ],
)
def test_models_of_the_messages_protocol_generate_from_the_playground(page, server, model):
    sign_in(page, server)
    page.get_by_label("Model").select_option(model)
    if model == "qwen-image-edit-plus":
        upload(page, "room.png", png(512, 384))
    page.get_by_label("Prompt", exact=True).fill("a reading corner")
    page.get_by_label("Number of images").fill("1")
    page.get_by_role("button", name="Generate").click()
    expect(results(page)).to_contain_text("SUCCEEDED")
    [[width, height]] = loaded_sizes(results(page).get_by_role("img"))
    assert width > 0 and (model != "qwen-image-edit-plus" or abs(width / height - 4 / 3) < 0.02)


def test_a_prompt_of_html_shows_as_text_and_runs_nothing(page, server):
    sign_in(page, server)
    page.get_by_label("Model").select_option("wan2.2-t2i-flash")
    page.get_by_label("Prompt", exact=True).fill(XSS)
    page.get_by_label("Number of images").fill("1")
    page.get_by_label("Prompt extend (rewrite the prompt first)").uncheck()
    page.get_by_role("button", name="Generate").click()
    expect(results(page).get_by_text(XSS, exact=True)).to_be_visible()
    loaded_sizes(results(page).get_by_role("img"))
    assert page.locator("img[src='x']").count() == 0
    assert page.dialogs == []


def test_an_api_error_is_shown_in_words_next_to_the_form(page, server):
    key = server.new_key()
    sign_in(page, server, key)
    key_id = next(k["id"] for k in admin_api("GET", server, "/keys").json()["keys"] if key.startswith(k["prefix"]))
    assert admin_api("DELETE", server, f"/keys/{key_id}").status_code == 200
    page.get_by_label("Prompt", exact=True).fill("a cat")
    page.get_by_role("button", name="Generate").click()
    form = page.locator("form", has=page.get_by_role("button", name="Generate"))
    expect(form.get_by_role("alert")).to_have_text("Invalid API-key provided. (InvalidApiKey)")


def test_edit_with_an_uploaded_image_and_a_drawn_mask(page, server):
    sign_in(page, server)
    page.get_by_label("Model").select_option("wanx2.1-imageedit")
    page.get_by_label("Function").select_option("description_edit_with_mask")
    upload(page, "garden.png", png(640, 512))
    canvas = page.get_by_role("img", name="Mask")
    box = canvas.bounding_box()
    middle_y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, middle_y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, middle_y, steps=8)
    page.mouse.up()
    page.get_by_label("Prompt", exact=True).fill("a red balloon")
    with page.expect_request(lambda r: r.url.endswith("/image2image/image-synthesis")) as sent:
        page.get_by_role("button", name="Generate").click()
    body = sent.value.post_data_json
    assert body["input"]["function"] == "description_edit_with_mask"
    assert body["input"]["base_image_url"].startswith("data:image/png;base64,")
    mask = Image.open(io.BytesIO(base64.b64decode(body["input"]["mask_image_url"].split(",", 1)[1]))).convert("L")
    assert mask.size == (640, 512)  # the base image's own size, whatever size it was shown at
    assert mask.getpixel((320, 256)) == 255 and mask.getpixel((5, 5)) == 0  # white = edit, black = keep
    assert loaded_sizes(results(page).get_by_role("img")) == [[640, 512]]


def test_cancel_a_running_super_resolution_task(page, server):
    sign_in(page, server)
    page.get_by_label("Model").select_option("wanx2.1-imageedit")
    page.get_by_label("Function").select_option("super_resolution")
    upload(page, "small.png", png(512, 512))
    page.get_by_label("Upscale factor").fill("2")
    page.get_by_role("button", name="Generate").click()
    status = results(page).get_by_text("Task ")
    expect(status).to_contain_text(re.compile(r"RUNNING: step \d+ of 256"), timeout=30_000)  # live progress
    expect(results(page).get_by_role("progressbar", name="Progress")).to_be_visible()
    results(page).get_by_role("button", name="Cancel").click()
    expect(status).to_contain_text("CANCELED", timeout=30_000)
    assert server.task(task_id_shown(page))["output"]["task_status"] == "CANCELED"


# --- tasks, usage, admin -----------------------------------------------------------------------


def test_tasks_list_filters_and_opens_a_task_with_its_outputs(page, server):
    done = server.run({"model": "wan2.2-t2i-flash", "input": {"prompt": "tasks page"}, "parameters": {"n": 1}})
    task_id = done["output"]["task_id"]
    sign_in(page, server)
    page.get_by_role("link", name="Tasks").click()
    page.get_by_label("Model").select_option("wan2.2-t2i-flash")
    page.get_by_label("Status").select_option("SUCCEEDED")
    page.get_by_role("button", name="Show tasks").click()
    row = page.get_by_role("row", name=re.compile(task_id))
    expect(row).to_contain_text("SUCCEEDED")
    page.get_by_role("button", name=task_id).click()
    detail = page.get_by_role("region", name="Task detail")
    expect(detail).to_contain_text(f"Task {task_id}")
    expect(detail).to_contain_text("1 of 1 made")
    expect(detail.get_by_role("region", name="Request").get_by_text("tasks page", exact=True)).to_be_visible()
    expect(detail.locator("figcaption").get_by_text("tasks page", exact=True)).to_be_visible()  # the result's
    assert loaded_sizes(detail.get_by_role("img")) == [[1024, 1024]]  # no input image: the result only
    page.get_by_label("Status").select_option("FAILED")
    page.get_by_role("button", name="Show tasks").click()
    expect(page.get_by_text("No tasks match.")).to_be_visible()


def test_a_waiting_or_running_task_is_canceled_from_its_detail(page, server):
    body = {
        "model": "wanx2.1-imageedit",
        "input": {
            "function": "super_resolution",
            "base_image_url": "data:image/png;base64," + base64.b64encode(png(512, 512)).decode(),
        },
        "parameters": {"upscale_factor": 2},
    }
    answer = requests.post(
        server.api + "/services/aigc/image2image/image-synthesis", json=body, headers=server.headers(), timeout=10
    )
    task_id = answer.json()["output"]["task_id"]
    sign_in(page, server)
    page.get_by_role("link", name="Tasks").click()
    page.get_by_label("Model").select_option("wanx2.1-imageedit")
    page.get_by_role("button", name="Show tasks").click()
    page.get_by_role("button", name=task_id).click()
    detail = page.get_by_role("region", name="Task detail")
    expect(detail).to_contain_text(re.compile("PENDING|RUNNING"))
    detail.get_by_role("button", name="Cancel task").click()
    expect(detail).to_contain_text("CANCELED", timeout=30_000)
    assert server.task(task_id)["output"]["task_status"] == "CANCELED"


def test_usage_shows_the_apis_numbers_per_model_and_day_and_the_free_quota_left_without_the_admin_token(page, server):
    key = server.new_key(account="usage")
    for prompt, n in (("one", 1), ("two", 2)):
        server.run({"model": "wan2.2-t2i-flash", "input": {"prompt": prompt}, "parameters": {"n": n}}, key=key)
    api = requests.get(server.api + "/usage", headers=server.headers(key, False), timeout=10).json()
    [row] = api["usage"]
    quota = next(q for q in api["free_quota"] if q["model"] == "wan2.2-t2i-flash")
    assert (row["invocations"], row["images"], quota["left"]) == (2, 3, 97)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url))
    sign_in(page, server, key)
    page.get_by_role("link", name="Usage").click()
    days = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Spend"))
    expect(days.get_by_role("row", name=re.compile("wan2.2-t2i-flash"))).to_contain_text(
        cells(row["date"], "wan2.2-t2i-flash", 2, 2, 0, 0, "100%", 3, 3, "$0.0000"), use_inner_text=True
    )
    left = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Left"))
    expect(left.get_by_role("row", name=re.compile("wan2.2-t2i-flash"))).to_contain_text(
        cells("wan2.2-t2i-flash", 100, 3, 97), use_inner_text=True
    )
    assert [url for url in sent if "/admin/" in url] == []  # the key's own usage: no admin token
    page.get_by_label("Days").select_option("7")
    expect(page.get_by_role("heading", name="Per model and day, last 7 days")).to_be_visible()


def test_admin_page_shows_the_server_usage_report_with_spend_and_free_quota_left(page, server):
    key = server.new_key(account="reported")
    server.run({"model": "wan2.2-t2i-flash", "input": {"prompt": "report"}, "parameters": {"n": 2}}, key=key)
    sign_in(page, server)
    page.get_by_role("link", name="Admin").click()
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Open admin").click()
    expect(page.get_by_role("button", name="Close admin")).to_be_visible()
    quota = page.get_by_role("table", name="Free quota left")
    expect(quota.get_by_role("row", name=re.compile("reported"))).to_contain_text(
        re.compile(r"100\s+2\s+98"), use_inner_text=True
    )
    report = page.get_by_role("table", name="Usage of every account")
    expect(report.get_by_role("row", name=re.compile("reported"))).to_contain_text("$0.0000")


def test_task_detail_shows_the_request_of_an_edit_task_with_its_prompt_parameters_and_input_image(page, server):
    body = {
        "model": "wanx2.1-imageedit",
        "input": {
            "function": "stylization_all",
            "prompt": "in the style of a woodcut",
            "base_image_url": "data:image/png;base64," + base64.b64encode(png(576, 512)).decode(),
        },
        "parameters": {"n": 1, "seed": 11, "strength": 0.3},
    }
    answer = requests.post(
        server.api + "/services/aigc/image2image/image-synthesis", json=body, headers=server.headers(), timeout=10
    )
    task_id = answer.json()["output"]["task_id"]
    server.wait(task_id)
    sign_in(page, server)
    page.get_by_role("link", name="Tasks").click()
    page.get_by_role("button", name=task_id).click()
    request = page.get_by_role("region", name="Task detail").get_by_role("region", name="Request")
    expect(request.get_by_text("in the style of a woodcut", exact=True)).to_be_visible()
    for name, value in (("Function", "stylization_all"), ("strength", "0.3"), ("seed", "11"), ("n", "1")):
        expect(request.locator("dt", has_text=re.compile(f"^{name}$")).locator("+ dd")).to_have_text(value)
    assert loaded_sizes(request.get_by_role("img", name="Input image")) == [[576, 512]]


def test_admin_creates_a_key_shown_once_that_works_and_revokes_it(page, server):
    sign_in(page, server)
    page.get_by_role("link", name="Admin").click()
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Open admin").click()
    expect(page.get_by_role("alert")).to_have_text("The admin token was not accepted: Invalid admin token.")
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Open admin").click()
    page.get_by_label("Key name").fill("made in the console")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("New key (shown once)")
    expect(shown).to_have_text(re.compile(r"^sk-"))
    key = shown.inner_text()
    models = requests.get(server.api + "/models", headers=server.headers(key, False), timeout=10)
    assert models.status_code == 200

    row = page.get_by_role("row", name=re.compile("made in the console"))
    row.get_by_role("button", name=re.compile("Revoke key")).click()
    expect(page.get_by_role("row", name=re.compile("made in the console"))).to_contain_text("revoked")
    expect(page.get_by_label("New key (shown once)")).to_have_text("")  # not shown again
    assert requests.get(server.api + "/models", headers=server.headers(key, False), timeout=10).status_code == 401


def test_no_javascript_errors_on_any_page(page, server):
    sign_in(page, server)
    page.get_by_label("Prompt", exact=True).fill("a quiet harbour")
    page.get_by_role("button", name="Generate").click()
    loaded_sizes(results(page).get_by_role("img"))
    for name in ("Tasks", "Usage", "Admin", "Playground"):
        page.get_by_role("link", name=name).click()
        expect(page.get_by_role("region", name=name)).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.console_errors == [] and page.errors == []


def test_every_console_file_is_package_data():
    import imagescope

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    globs = project["tool"]["setuptools"]["package-data"]["imagescope"]
    files = [
        p.relative_to(Path(imagescope.__file__).parent)
        for p in (Path(imagescope.__file__).parent / "console").iterdir()
    ]
    assert {"index.html", "app.js", "console.css"} <= {f.name for f in files}
    assert [str(f) for f in files if not any(fnmatch.fnmatch(str(f), g) for g in globs)] == []

"""What a hostile tester found, pinned: upload keys confined to their account in every
spelling, the documented 4xx instead of a 500 for each input that once caused one, bodies
capped at what their route needs, short echoes of bad values, HEAD on result URLs, strict
admin types and unique workspace names. Black-box, against a real server."""

from __future__ import annotations

import io
import json
import random

import pytest
import requests
from PIL import Image

from conftest import Server
from imagescope.http.body_size import TEXT_BODY_BYTES, data_uri_bytes, family_caps
from imagescope.models.catalog import IMAGE2IMAGE, MULTIMODAL, TEXT2IMAGE, Catalog
from test_image2image import EDIT_PATH, imageedit, pattern, png_uri

ADMIN = "hardening-admin-token"
T2I = "/services/aigc/text2image/image-synthesis"
MM = "/services/aigc/multimodal-generation/generation"
OSS = {"X-DashScope-OssResourceResolve": "enable"}
BODY_INVALID = "Required body invalid, please check the request body format."
T2I_BODY = {"model": "wan2.2-t2i-flash", "input": {"prompt": "a lighthouse"}, "parameters": {"n": 1, "size": "512*512"}}


def error_of(r: requests.Response) -> tuple[int, str, str]:
    body = r.json()
    assert set(body) == {"request_id", "code", "message"}, body
    return r.status_code, body["code"], body["message"]


def png_bytes(size=(640, 512)) -> bytes:
    buffer = io.BytesIO()
    pattern("ramp", size).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hostile() -> Server:
    """A server of its own: an admin token, and a second account whose uploads are the prize."""
    import tempfile
    from pathlib import Path

    s = Server(Path(tempfile.mkdtemp(prefix="hardening-")), env={"IMAGESCOPE_ADMIN_TOKEN": ADMIN}).start()
    yield s
    s.stop()


def admin(s: Server, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, f"{s.url}/admin/v1{path}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10, **kwargs
    )


def policy_of(s: Server, key: str) -> dict:
    r = requests.get(
        f"{s.api}/uploads",
        params={"action": "getPolicy", "model": "wanx2.1-imageedit"},
        headers=s.headers(key, asynchronous=False),
        timeout=10,
    )
    return r.json()["output"]


def upload(policy: dict, key: str, data: bytes, **changes: str) -> requests.Response:
    form = {
        "OSSAccessKeyId": policy["oss_access_key_id"],
        "Signature": policy["signature"],
        "policy": policy["policy"],
        "success_action_status": "200",
        "key": key,
        **changes,
    }
    return requests.post(policy["upload_host"], data=form, files={"file": ("x.png", data)}, timeout=10)


@pytest.fixture(scope="module")
def victim_upload(hostile) -> tuple[str, str]:
    """(account 2's key, the oss:// key of its private upload)."""
    key = hostile.new_key("victim")
    policy = policy_of(hostile, key)
    r = upload(policy, policy["upload_dir"] + "/private.png", png_bytes())
    assert r.status_code == 200, r.text
    return key, policy["upload_dir"] + "/private.png"


# --- 1. one account cannot read another's uploads ------------------------------------------------


def climbing_spellings(own_prefix: str, victim_key: str) -> list[str]:
    """Keys that start with the attacker's own prefix and name the victim's file."""
    rest = victim_key.split("/", 2)[2]  # "{upload dir}/private.png" under imagescope/{victim id}/
    victim_id = victim_key.split("/")[1]
    return [
        f"{own_prefix}../{victim_id}/{rest}",
        f"{own_prefix}%2e%2e/{victim_id}/{rest}",
        f"{own_prefix}%2E%2E/{victim_id}/{rest}",
        f"{own_prefix}.%2e/{victim_id}/{rest}",
        f"{own_prefix}%252e%252e/{victim_id}/{rest}",
        f"{own_prefix}..%2f{victim_id}/{rest}",
        f"{own_prefix}..\\{victim_id}/{rest}",
        f"{own_prefix}..%5c{victim_id}/{rest}",
        f"{own_prefix}./../{victim_id}/{rest}",
        f"{own_prefix}x/../../{victim_id}/{rest}",
        f"{own_prefix}/../{victim_id}/{rest}",
        f"{own_prefix}..%00/{victim_id}/{rest}",
    ]


def test_an_oss_input_climbing_into_another_accounts_uploads_is_refused_in_every_spelling(hostile, victim_upload):
    victim_key, victim_oss = victim_upload
    attacker = hostile.new_key("attacker")
    attacker_id = policy_of(hostile, attacker)["upload_dir"].split("/")[1]
    for spelling in climbing_spellings(f"imagescope/{attacker_id}/", victim_oss):
        for body in (
            imageedit("colorization", "oss://" + spelling),
            {
                "model": "wan2.5-i2i-preview",
                "input": {"prompt": "x", "images": ["oss://" + spelling]},
                "parameters": {"n": 1, "size": "768*768"},
            },
        ):
            r = requests.post(
                hostile.api + EDIT_PATH, json=body, headers={**hostile.headers(attacker), **OSS}, timeout=10
            )
            assert r.status_code == 400, (spelling, r.text)
            assert r.json()["code"] == "BadRequest.InputDownloadFailed", (spelling, r.text)
    # The owner still reads it: the refusal is about who asks, not a broken upload.
    r = requests.post(
        hostile.api + EDIT_PATH,
        json=imageedit("colorization", "oss://" + victim_oss),
        headers={**hostile.headers(victim_key), **OSS},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert hostile.wait(r.json()["output"]["task_id"], victim_key)["output"]["task_status"] == "SUCCEEDED"


def test_upload_keys_leaving_the_policy_directory_are_refused_in_every_spelling(hostile):
    key = hostile.new_key("uploader")
    policy = policy_of(hostile, key)
    directory = policy["upload_dir"]
    for escape in [
        f"{directory}/../x.png",
        f"{directory}/sub/x.png",
        f"{directory}//x.png",
        f"{directory}/..\\x.png",
        f"{directory}\\x.png",
        "imagescope/999/other/x.png",
    ]:
        r = upload(policy, escape, png_bytes())
        assert error_of(r)[:2] == (403, "AccessDenied"), (escape, r.text)
    for bad_name in [
        "..",
        ".",
        "%2e%2e",
        "%2E.",
        "%252e%252e",
        "a%2fb.png",
        "a%5cb.png",
        "a%00.png",
        "x" * 300 + ".png",
        "a\x01b.png",
    ]:
        r = upload(policy, f"{directory}/{bad_name}", png_bytes())
        assert error_of(r) == (400, "InvalidObjectName", "The specified object is not valid."), (bad_name, r.text)
    for fine in ["a b.png", "100%.png", "猫.png", "x" * 200 + ".png"]:
        r = upload(policy, f"{directory}/{fine}", png_bytes())
        assert r.status_code == 200, (fine, r.text)


def test_an_upload_name_with_nul_is_refused_not_a_500(hostile):
    policy = policy_of(hostile, hostile.key)
    r = upload(policy, policy["upload_dir"] + "/a\x00b.png", png_bytes())
    assert error_of(r)[:2] == (400, "InvalidObjectName")


# --- 2. every input that once made a 500 ---------------------------------------------------------


def post_raw(
    s: Server, path: str, raw: bytes, key: str | None = None, asynchronous: bool = True, **headers: str
) -> requests.Response:
    return requests.post(s.api + path, data=raw, headers={**s.headers(key, asynchronous), **headers}, timeout=30)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_json_nested_thousands_deep_answers_body_invalid(hostile, depth):
    at_root = post_raw(hostile, T2I, nested(depth).encode())
    assert error_of(at_root) == (400, "InvalidParameter", BODY_INVALID)
    in_field = post_raw(
        hostile,
        T2I,
        ('{"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}, "parameters": ' + nested(depth) + "}").encode(),
    )
    assert error_of(in_field) == (400, "InvalidParameter", BODY_INVALID)
    r = requests.post(
        f"{hostile.url}/admin/v1/accounts",
        data=('{"name": ' + nested(depth) + "}").encode(),
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert error_of(r)[:2] == (400, "InvalidParameter")


SURROGATE_BODIES = {
    "prompt": (T2I, True, '{"model": "wan2.2-t2i-flash", "input": {"prompt": "a \\ud800 cat"}}'),
    "message text": (
        MM,
        False,
        '{"model": "qwen-image-plus", "input": {"messages": [{"role": "user", "content": [{"text": "\\udfff"}]}]}}',
    ),
    "image url": (
        EDIT_PATH,
        True,
        '{"model": "wanx2.1-imageedit", "input": {"function": "colorization", '
        '"prompt": "x", "base_image_url": "https://example.com/\\ud800.png"}}',
    ),
    "a key": (T2I, True, '{"model": "wan2.2-t2i-flash", "input": {"prompt": "x", "\\ud800": 1}}'),
}


@pytest.mark.parametrize("where", SURROGATE_BODIES)
def test_a_lone_surrogate_anywhere_in_a_body_answers_body_invalid(hostile, where):
    path, asynchronous, raw = SURROGATE_BODIES[where]
    r = post_raw(hostile, path, raw.encode(), asynchronous=asynchronous)
    assert error_of(r) == (400, "InvalidParameter", BODY_INVALID)


def test_a_lone_surrogate_in_admin_names_answers_400(hostile):
    for path in ("/accounts", "/accounts/default/workspaces"):
        r = admin(hostile, "POST", path, data=b'{"name": "\\ud800"}')
        assert error_of(r)[:2] == (400, "InvalidParameter"), r.text
    r = admin(hostile, "PUT", "/accounts/default/limits", data=b'{"model": "\\udc00", "concurrency": 2}')
    assert error_of(r)[:2] == (400, "InvalidParameter")
    r = admin(hostile, "POST", "/accounts/default/keys", data=b'{"name": "\\ud800"}')
    assert error_of(r)[:2] == (400, "InvalidParameter")


@pytest.mark.parametrize("function", [["colorization"], {"colorization": 1}, 5, None, True])
def test_imageedit_function_of_another_type_answers_invalid_parameter(hostile, function):
    body = imageedit("colorization", png_uri(pattern("ramp")))
    body["input"]["function"] = function
    status, code, message = error_of(
        requests.post(hostile.api + EDIT_PATH, json=body, headers=hostile.headers(), timeout=10)
    )
    assert (status, code) == (400, "InvalidParameter") and message.startswith("input.function must be one of")


@pytest.mark.parametrize("value", ["²", "٣", "1" * 5000, "-1", "0x10", " 5", "1e3"])
def test_task_list_paging_that_is_not_a_plain_number_answers_invalid_parameter(hostile, value):
    for name in ("page_no", "page_size"):
        r = requests.get(
            f"{hostile.api}/tasks", params={name: value}, headers=hostile.headers(asynchronous=False), timeout=10
        )
        status, code, message = error_of(r)
        assert (status, code) == (400, "InvalidParameter") and len(message) < 200, message


def result_url(s: Server) -> str:
    done = s.run(T2I_BODY)
    return done["output"]["results"][0]["url"]


def test_result_urls_with_odd_expires_or_signature_answer_403(hostile):
    url = result_url(hostile)
    base, _, query = url.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    for changes in (
        {"Expires": "²"},
        {"Expires": "9" * 5000},
        {"Signature": "é" + params["Signature"]},
        {"Signature": "%F0%9F%98%80"},
        {"Expires": "%EF%BC%91"},
    ):
        q = "&".join(f"{k}={v}" for k, v in {**params, **changes}.items())
        r = requests.get(f"{base}?{q}", timeout=10)
        assert error_of(r)[:2] == (403, "AccessDenied"), (changes, r.text)


def test_an_upload_with_a_non_ascii_signature_answers_403(hostile):
    policy = policy_of(hostile, hostile.key)
    r = upload(policy, policy["upload_dir"] + "/a.png", png_bytes(), Signature="sïgnature")
    assert error_of(r)[:2] == (403, "AccessDenied")


@pytest.mark.parametrize(
    "path, body",
    [
        ("/accounts/default/limits", {"submit_rps": 2**63}),
        ("/accounts/default/limits", {"concurrency": 10**30}),
        ("/accounts/default/quota", {"free_quota": 2**63}),
        ("/accounts/default/quota", {"free_quota": 2**64 + 1}),
    ],
)
def test_admin_integers_beyond_a_database_integer_answer_400(hostile, path, body):
    assert error_of(admin(hostile, "PUT", path, json=body))[:2] == (400, "InvalidParameter")
    assert admin(hostile, "GET", "/accounts").status_code == 200


@pytest.mark.parametrize("key_id", [str(10**30), str(2**63), "-1", "0"])
def test_revoking_a_key_id_beyond_a_database_integer_answers_404(hostile, key_id):
    assert error_of(admin(hostile, "DELETE", f"/keys/{key_id}"))[:2] == (404, "NotFound")


# --- 3. bounded input ---------------------------------------------------------------------------


def test_each_route_family_is_capped_at_its_largest_valid_request():
    caps = family_caps(Catalog())
    assert caps[TEXT2IMAGE] == TEXT_BODY_BYTES  # no images: prompts only
    ten_mb = 10 * 1024 * 1024
    assert caps[MULTIMODAL] >= 4 * data_uri_bytes(ten_mb)  # wan2.6-image: four images of 10 MB
    assert caps[IMAGE2IMAGE] >= 3 * data_uri_bytes(ten_mb)  # wan2.5-i2i: three
    assert caps[MULTIMODAL] < 64 * 1024 * 1024


def test_a_declared_body_past_the_cap_answers_413_before_it_is_read(hostile):
    big = b'{"model": "wan2.2-t2i-flash", "input": {"prompt": "' + b"x" * (2 * TEXT_BODY_BYTES) + b'"}}'
    assert error_of(post_raw(hostile, T2I, big)) == (413, "BadRequest.TooLarge", "The request body is too large.")
    r = requests.post(
        f"{hostile.url}/admin/v1/accounts",
        data=big,
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert error_of(r)[:2] == (413, "BadRequest.TooLarge")
    assert hostile.run(T2I_BODY)["output"]["task_status"] == "SUCCEEDED"


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_cap(hostile):
    """A body without Content-Length: the answer comes once the cap is passed, not at its end."""
    import select
    import socket

    head = (
        f"POST /api/v1{T2I} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {hostile.key}\r\n"
        "X-DashScope-Async: enable\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", hostile.port), timeout=30) as sock:
        opening = b'{"input":"'
        sock.sendall(head.encode() + b"%x\r\n%s\r\n" % (len(opening), opening))
        while sent < 256 * 1024 * 1024 and not answer:
            if select.select([sock], [], [], 0)[0]:
                answer = sock.recv(65536)
                break
            try:
                sock.sendall(chunk)
            except OSError:  # the server closed the connection: read what it said
                answer = sock.recv(65536)
                break
            sent += 65536
        while b"}" not in answer:  # the headers may come alone; the JSON body follows
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"BadRequest.TooLarge"' in answer
    assert sent < TEXT_BODY_BYTES + 16 * 1024 * 1024  # the cap plus what socket buffers hold
    assert hostile.run(T2I_BODY)["output"]["task_status"] == "SUCCEEDED"


def test_an_image_request_of_several_megabytes_is_still_accepted(hostile):
    noise = Image.frombytes("RGB", (1200, 1000), random.Random(7).randbytes(1200 * 1000 * 3))  # PNG can't shrink it
    uri = png_uri(noise)
    assert len(uri) > TEXT_BODY_BYTES
    r = requests.post(
        hostile.api + EDIT_PATH, json=imageedit("colorization", uri), headers=hostile.headers(), timeout=30
    )
    assert r.status_code == 200, r.text


def test_max_body_bytes_setting_replaces_the_cap_of_image_routes(make_server):
    s = make_server(IMAGESCOPE_MAX_BODY_BYTES=str(2 * 1024 * 1024))
    body = json.dumps(imageedit("colorization", "data:image/png;base64," + "A" * (3 * 1024 * 1024))).encode()
    assert error_of(post_raw(s, EDIT_PATH, body))[:2] == (413, "BadRequest.TooLarge")


def test_an_error_repeats_at_most_a_short_prefix_of_the_bad_value(hostile):
    body = imageedit("colorization", png_uri(pattern("ramp")))
    body["input"]["function"] = "f" * 1_000_000
    r = requests.post(hostile.api + EDIT_PATH, json=body, headers=hostile.headers(), timeout=30)
    status, code, message = error_of(r)
    assert (status, code) == (400, "InvalidParameter") and len(r.content) < 500
    assert "fff" in message and message.endswith("...")
    r = hostile.submit({**T2I_BODY, "parameters": {"n": "9" * 4000}})
    assert error_of(r)[0] == 400 and len(r.content) < 500


# --- 5. smaller ---------------------------------------------------------------------------------


def test_head_on_a_result_url_answers_like_get_without_the_body(hostile):
    url = result_url(hostile)
    got = requests.get(url, timeout=10)
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "image/png"
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert requests.head(url.replace("Signature=", "Signature=x"), timeout=10).status_code == 403


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_admin_free_only_takes_only_a_json_boolean(hostile, value):
    r = admin(hostile, "PUT", "/accounts/default/free-only", json={"free_only": value})
    assert error_of(r)[:2] == (400, "InvalidParameter")
    r = admin(hostile, "PUT", "/accounts/default/free-only", json={"free_only": False})
    assert r.status_code == 200 and r.json()["account"]["free_only"] is False


def test_admin_numbers_given_as_strings_are_refused(hostile):
    r = admin(hostile, "PUT", "/accounts/default/limits", json={"concurrency": "2"})
    assert error_of(r)[:2] == (400, "InvalidParameter")


def test_workspace_names_are_unique_within_an_account(hostile):
    assert admin(hostile, "POST", "/accounts", json={"name": "teams"}).status_code == 200
    first = admin(hostile, "POST", "/accounts/teams/workspaces", json={"name": "blue"})
    assert first.status_code == 200
    again = admin(hostile, "POST", "/accounts/teams/workspaces", json={"name": "blue"})
    assert error_of(again)[:2] == (409, "Conflict")
    assert error_of(admin(hostile, "POST", "/accounts/teams/workspaces", json={"name": "default"}))[0] == 409
    assert admin(hostile, "POST", "/accounts/default/workspaces", json={"name": "blue"}).status_code == 200
    names = [w["name"] for w in admin(hostile, "GET", "/workspaces").json()["workspaces"] if w["account"] == "teams"]
    assert sorted(names) == ["blue", "default"]
    cli = hostile.cli  # the CLI refuses the same, with exit status 1
    import subprocess

    with pytest.raises(subprocess.CalledProcessError) as refused:
        cli("workspaces", "create", "teams", "blue")
    assert refused.value.returncode == 1 and "already has a workspace" in refused.value.stdout


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309"])
def test_admin_usage_and_ledger_windows_take_finite_numbers_only(hostile, value):
    for path in ("/usage", "/ledger"):
        assert error_of(admin(hostile, "GET", path, params={"start": value}))[:2] == (400, "InvalidParameter")
    assert admin(hostile, "GET", "/ledger", params={"start": "0"}).status_code == 200

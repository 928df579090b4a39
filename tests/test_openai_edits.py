"""OpenAI's ``POST /v1/images/edits`` (multipart), driven by the official ``openai`` SDK: edits
with and without a mask on every editing model, each a task of the caller's account on its
model's family, and every refusal in OpenAI's envelope so the SDK raises its typed exceptions."""

from __future__ import annotations

import base64
import http.client
import io
import json

import numpy as np
import openai
import pytest
import requests
from PIL import Image, ImageOps

from conftest import download

EDITS = "/v1/images/edits"
IMAGEEDIT = "wanx2.1-imageedit"  # one image, output the input's size; functions; the one inpainter
I2I = "wan2.5-i2i-preview"  # 1–3 images, size 768*768–1280*1280 pixels, n 1–4
IMAGE2IMAGE_PATH = "/services/aigc/image2image/image-synthesis"
MB = 1024 * 1024


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def upload(image: Image.Image, name: str = "image.png") -> tuple[str, bytes, str]:
    return (name, png(image), "image/png")


def pattern(kind: str, size=(640, 512)) -> Image.Image:
    """Two pictures that look nothing alike: a horizontal colour ramp, and stripes."""
    w, h = size
    x, y = np.meshgrid(np.linspace(0, 1, w), np.linspace(0, 1, h))
    if kind == "ramp":
        rgb = np.stack([x * 255, (1 - x) * 200, np.full_like(x, 60)], -1)
    else:
        stripes = ((y * 12).astype(int) % 2) * 180 + 40
        rgb = np.stack([stripes, stripes * 0.5, 255 - stripes], -1)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


def openai_mask(size, box) -> Image.Image:
    """OpenAI's mask: opaque everywhere but ``box``, whose pixels are fully transparent (alpha 0)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return mask


def decoded(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG"
    return image


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def gray(image: Image.Image, size=(160, 128)) -> np.ndarray:
    return np.asarray(image.convert("L").resize(size), dtype=np.float64).ravel()


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def data_uri(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png(image)).decode()


def post_form(server, fields: dict, files: list | None = None, key: str | None = None) -> requests.Response:
    """A raw multipart call, for what the SDK will not send."""
    headers = {"Authorization": f"Bearer {key or server.key}"}
    return requests.post(f"{server.url}{EDITS}", data=fields, files=files or [], headers=headers, timeout=30)


def envelope(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert response.headers["x-request-id"]
    return body["error"]


def refused(client: openai.OpenAI, **call) -> openai.BadRequestError:
    call.setdefault("image", upload(pattern("ramp")))
    call.setdefault("prompt", "edit it")
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(**call)
    assert caught.value.type == "invalid_request_error"
    return caught.value


# --- edits without a mask ---------------------------------------------------------------------


def test_an_edit_answers_a_signed_url_of_the_png_in_the_first_images_proportions(client):
    rsp = client.images.edit(image=upload(pattern("ramp", (640, 512))), prompt="make it autumn")  # qwen-image-edit
    [image] = rsp.data
    assert rsp.created > 0 and image.b64_json is None and image.revised_prompt is None
    out = download(image.url)
    assert abs(out.width / out.height - 640 / 512) < 0.02
    assert abs(out.width * out.height / MB - 1) < 0.1  # about 1024*1024 pixels, as qwen-image-edit makes


def test_b64_json_answers_the_edited_png_itself(client):
    rsp = client.images.edit(
        model="qwen-image-edit-plus",
        image=upload(pattern("ramp")),
        prompt="p",
        n=2,
        size="1024x768",
        response_format="b64_json",
    )
    assert [decoded(image.b64_json).size for image in rsp.data] == [(1024, 768)] * 2
    assert all(image.url is None for image in rsp.data)


def test_several_images_sent_as_image_array_are_edited_together_in_order(client):
    ramp, stripes = pattern("ramp"), pattern("stripes")
    rsp = client.images.edit(
        model=I2I,
        image=[upload(ramp, "1.png"), upload(stripes, "2.png")],
        prompt="put them side by side",
        size="1024x1024",
        response_format="b64_json",
    )
    [image] = rsp.data
    out = decoded(image.b64_json)
    assert out.size == (1024, 1024)

    # The preview engine draws each input as a panel (fitted to 512*1024), in request order.
    def panel(image: Image.Image) -> Image.Image:
        return ImageOps.fit(image, (512, 1024)).crop((0, 100, 512, 924))

    left, right = out.crop((0, 100, 512, 924)), out.crop((512, 100, 1024, 924))
    assert corr(gray(left), gray(panel(ramp))) > corr(gray(left), gray(panel(stripes)))
    assert corr(gray(right), gray(panel(stripes))) > corr(gray(right), gray(panel(ramp)))


def test_n_defaults_to_one_as_openais_not_to_the_wan_models_four(client):
    assert len(client.images.edit(model=I2I, image=upload(pattern("ramp")), prompt="p").data) == 1
    assert len(client.images.edit(model="wan2.6-image", image=upload(pattern("ramp")), prompt="p").data) == 1


def test_wan26_image_takes_1k_2k_or_wxh_and_auto_keeps_the_first_images_proportions(client):
    source = upload(pattern("ramp", (800, 400)))

    def size(**extra) -> tuple[int, int]:
        [image] = client.images.edit(
            model="wan2.6-image", image=source, prompt="p", response_format="b64_json", **extra
        ).data
        return decoded(image.b64_json).size

    for w, h in (size(), size(size="auto"), size(size="1K")):
        assert w / h == pytest.approx(2, abs=0.03) and w * h == pytest.approx(1280 * 1280, rel=0.05)
    w, h = size(size="2K")
    assert w / h == pytest.approx(2, abs=0.03) and w * h == pytest.approx(2048 * 2048, rel=0.05)
    assert size(size="1280x720") == (1280, 720)


@pytest.mark.parametrize("family", ["image2image", "messages"])
def test_an_edit_is_exactly_the_picture_the_models_dashscope_route_makes_from_the_same_seed(client, server, family):
    """wanx2.1-imageedit without a mask: function description_edit, the default here."""
    base = pattern("stripes")
    if family == "image2image":
        model, path = IMAGEEDIT, IMAGE2IMAGE_PATH
        body = {
            "model": model,
            "input": {"function": "description_edit", "prompt": "a red barn", "base_image_url": data_uri(base)},
            "parameters": {"n": 1, "seed": 7},
        }
        accepted = requests.post(server.api + path, json=body, headers=server.headers(), timeout=30)
        assert accepted.status_code == 200, accepted.text
        theirs = download(server.wait(accepted.json()["output"]["task_id"])["output"]["results"][0]["url"])
    else:
        model, path = "qwen-image-edit", "/services/aigc/multimodal-generation/generation"
        content = [{"text": "a red barn"}, {"image": data_uri(base)}]
        body = {
            "model": model,
            "input": {"messages": [{"role": "user", "content": content}]},
            "parameters": {"seed": 7, "prompt_extend": False},
        }
        answer = requests.post(server.api + path, json=body, headers=server.headers(asynchronous=False), timeout=30)
        assert answer.status_code == 200, answer.text
        theirs = download(answer.json()["output"]["choices"][0]["message"]["content"][0]["image"])
    rsp = client.images.edit(
        model=model, image=upload(base), prompt="a red barn", response_format="b64_json", extra_body={"seed": 7}
    )
    assert np.array_equal(pixels(decoded(rsp.data[0].b64_json)), pixels(theirs))
    other = client.images.edit(
        model=model, image=upload(base), prompt="a red barn", response_format="b64_json", extra_body={"seed": 8}
    )
    assert not np.array_equal(pixels(decoded(other.data[0].b64_json)), pixels(theirs))


def test_wanx21_function_and_its_parameters_are_extra_form_fields(client):
    scales = {"function": "expand", "top_scale": 1.5, "bottom_scale": 1.5, "left_scale": 2.0, "right_scale": 1.0}
    [image] = client.images.edit(
        model=IMAGEEDIT, image=upload(pattern("stripes", (800, 600))), prompt="more sky", extra_body=scales
    ).data
    assert download(image.url).size == (1200, 900)  # 800*(2+1)/2, 600*(1.5+1.5)/2
    error = refused(client, model=IMAGEEDIT, extra_body={"function": "stylization_all", "strength": 2})
    assert error.param == "strength" and "strength must be in [0.0, 1.0]" in error.message
    error = refused(client, model=IMAGEEDIT, extra_body={"function": "sharpen"})
    assert error.param == "function" and "description_edit_with_mask" in error.message
    error = refused(client, model=I2I, extra_body={"function": "expand"})
    assert error.param == "function"


def test_prompt_extend_as_an_extra_field_answers_the_rewritten_prompt_as_revised_prompt(client):
    [image] = client.images.edit(
        model=I2I, image=upload(pattern("ramp")), prompt="a lighthouse", extra_body={"prompt_extend": True}
    ).data
    assert image.revised_prompt.startswith("a lighthouse") and image.revised_prompt != "a lighthouse"


def test_each_edit_is_a_task_of_the_callers_account_on_its_models_family(server):
    key = server.new_key("openai-edits")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
    client.images.edit(model=IMAGEEDIT, image=upload(pattern("ramp")), prompt="p", n=2)
    client.images.edit(model="qwen-image-edit", image=upload(pattern("ramp")), prompt="p")
    listed = requests.get(f"{server.api}/tasks", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
    tasks = {item["model_name"]: item for item in listed["data"]}
    assert set(tasks) == {IMAGEEDIT, "qwen-image-edit"}
    assert all(item["status"] == "SUCCEEDED" for item in tasks.values())
    assert tasks[IMAGEEDIT]["user_api_unique_key"].endswith(f":image2image:{IMAGEEDIT}")
    assert tasks["qwen-image-edit"]["user_api_unique_key"].endswith(":multimodal-generation:qwen-image-edit")
    assert server.task(tasks[IMAGEEDIT]["task_id"], key)["usage"] == {"image_count": 2}


# --- edits with a mask --------------------------------------------------------------------------


def test_the_masks_transparent_pixels_are_the_area_edited_and_the_rest_is_kept(client, server):
    base = pattern("ramp", (640, 512))
    mask = openai_mask(base.size, (200, 150, 440, 350))
    rsp = client.images.edit(
        model=IMAGEEDIT,  # function: description_edit_with_mask, the default with a mask
        image=upload(base),
        mask=upload(mask, "mask.png"),
        prompt="a ceramic rabbit",
        response_format="b64_json",
        extra_body={"seed": 11},
    )
    out, src = pixels(decoded(rsp.data[0].b64_json)), pixels(base)
    assert out.shape == src.shape
    assert np.abs(out[170:330, 220:420] - src[170:330, 220:420]).mean() > 40
    assert np.abs(out[60:140, 20:180] - src[60:140, 20:180]).mean() < 1
    # Exactly DashScope's inpainting with the white-on-black mask OpenAI's transparent area makes.
    white = Image.new("L", base.size, 0)
    white.paste(255, (200, 150, 440, 350))
    body = {
        "model": IMAGEEDIT,
        "input": {
            "function": "description_edit_with_mask",
            "prompt": "a ceramic rabbit",
            "base_image_url": data_uri(base),
            "mask_image_url": data_uri(white),
        },
        "parameters": {"n": 1, "seed": 11},
    }
    r = requests.post(server.api + IMAGE2IMAGE_PATH, json=body, headers=server.headers(), timeout=30)
    assert r.status_code == 200, r.text
    done = server.wait(r.json()["output"]["task_id"])
    assert np.array_equal(out, pixels(download(done["output"]["results"][0]["url"])))


@pytest.mark.parametrize(
    "model, extra",
    [
        ("qwen-image-edit", {}),
        ("qwen-image-edit-plus", {}),
        ("wan2.6-image", {}),
        (I2I, {}),
        (IMAGEEDIT, {"function": "expand"}),
        (IMAGEEDIT, {"function": "description_edit"}),
    ],
)
def test_a_mask_on_a_model_or_function_that_cannot_inpaint_is_400_saying_so(client, model, extra):
    base = pattern("ramp")
    mask = upload(openai_mask(base.size, (0, 0, 100, 100)), "mask.png")
    error = refused(client, model=model, image=upload(base), mask=mask, extra_body=extra)
    assert error.param == "mask"
    assert f"{model} cannot inpaint" in error.message and "description_edit_with_mask" in error.message


def test_inpainting_without_a_mask_is_400_naming_mask(client):
    error = refused(client, model=IMAGEEDIT, extra_body={"function": "description_edit_with_mask"})
    assert error.param == "mask" and "Field required: mask" in error.message


def test_a_mask_of_another_size_than_the_image_is_400_naming_mask(client):
    mask = upload(openai_mask((600, 600), (0, 0, 100, 100)), "mask.png")
    error = refused(client, model=IMAGEEDIT, image=upload(pattern("ramp", (640, 512))), mask=mask)
    assert error.param == "mask" and "mask 600x600, image 640x512" in error.message


def test_a_mask_without_transparency_or_not_a_png_is_400_naming_mask(client):
    size = (640, 512)
    for mask in (
        upload(Image.new("RGB", size, 255), "mask.png"),  # no alpha channel
        ("mask.jpg", png(Image.new("RGB", size, 255), "JPEG"), "image/jpeg"),
    ):
        error = refused(client, model=IMAGEEDIT, image=upload(pattern("ramp", size)), mask=mask)
        assert error.param == "mask" and "alpha channel" in error.message
    error = refused(client, model=IMAGEEDIT, mask=("mask.png", b"not a picture", "image/png"))
    assert error.param == "mask" and "not a supported image" in error.message


# --- refusals -------------------------------------------------------------------------------------


def test_size_on_wanx21_whose_output_follows_the_input_is_400_unless_auto(client):
    rsp = client.images.edit(model=IMAGEEDIT, image=upload(pattern("ramp", (640, 512))), prompt="p", size="auto")
    [image] = rsp.data
    assert download(image.url).size == (640, 512)
    error = refused(client, model=IMAGEEDIT, size="640x512")
    assert error.param == "size" and "size of the input" in error.message


def test_a_size_outside_the_models_rules_is_400_naming_size(client):
    for model, size in ((I2I, "100x100"), (I2I, "1K"), ("qwen-image-edit", "big"), ("qwen-image-edit", "4096x4096")):
        error = refused(client, model=model, size=size)
        assert error.param == "size", (model, size)
    assert "512 and 2048" in error.message


def test_n_outside_the_models_range_is_400_naming_n(client):
    for model, n in (("qwen-image-edit", 2), (I2I, 5), (I2I, 0)):
        assert refused(client, model=model, n=n).param == "n"


def test_files_that_are_not_images_too_large_too_small_or_too_many_are_400_naming_image(client):
    error = refused(client, image=("photo.png", b"GIF? no, plain text", "image/png"))
    assert error.param == "image" and "not a supported image" in error.message
    # Past 10 MB: inside this route's body cap (unlike the 1 MB of JSON routes), refused as an image.
    error = refused(client, image=("big.png", b"\x89PNG\r\n\x1a\n" + bytes(10 * MB), "image/png"))
    assert error.param == "image" and "larger than 10 MB" in error.message
    error = refused(client, image=upload(Image.new("RGB", (100, 100))))
    assert error.param == "image" and "between 384 and 3072" in error.message
    error = refused(client, model=I2I, image=[upload(pattern("ramp"), f"{i}.png") for i in range(4)])
    assert error.param == "image" and "takes 1 to 3 images, got 4" in error.message
    error = refused(client, model=IMAGEEDIT, image=[upload(pattern("ramp")), upload(pattern("stripes"))])
    assert error.param == "image" and "takes 1 image, got 2" in error.message
    error = refused(client, model=I2I, image=[upload(pattern("ramp")), ("2.png", b"junk", "image/png")])
    assert error.param == "image" and "image 2 of 2: The input file is not" in error.message


def test_more_files_than_any_model_takes_is_400_before_they_are_read(server):
    files = [("image[]", (f"{i}.png", b"x", "image/png")) for i in range(18)]
    error = envelope(post_form(server, {"prompt": "p"}, files), 400)
    assert "more than 17 files" in error["message"]


def test_a_missing_image_or_prompt_or_an_image_sent_as_text_is_400_naming_it(client, server):
    assert envelope(post_form(server, {"prompt": "p", "model": I2I}, [("x", ("x", b"1"))]), 400)["param"] == "image"
    error = envelope(
        post_form(server, {"prompt": "p", "image": "https://example.com/cat.png"}, [("x", ("x", b"1"))]), 400
    )
    assert error["param"] == "image" and "must be a file" in error["message"]
    error = refused(client, prompt="")
    assert error.param == "prompt" and "Field required: prompt" in error.message
    # wanx2.1-imageedit's functions may go without a prompt (colorization), as on image2image.
    [image] = client.images.edit(
        model=IMAGEEDIT, image=upload(pattern("ramp")), prompt="", extra_body={"function": "colorization"}
    ).data
    assert download(image.url).size == (640, 512)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("n", "two", "n must be an integer, got 'two'"),
        ("watermark", "maybe", "watermark must be true or false"),
        ("seed", "-1", "seed must be in [0, 2147483647], got '-1'"),
        ("response_format", "png", "response_format must be 'url' or 'b64_json'"),
        ("strength", "nan", "strength must be a finite number"),
    ],
)
def test_form_values_are_text_and_a_bad_one_is_400_naming_its_field(server, field, value, words):
    files = [("image", ("a.png", png(pattern("ramp")), "image/png"))]
    error = envelope(post_form(server, {"prompt": "p", "model": I2I, field: value}, files), 400)
    assert error["param"] == field and words in error["message"]


def test_a_body_that_is_not_multipart_or_not_well_formed_is_400(server):
    r = requests.post(
        f"{server.url}{EDITS}", json={"prompt": "p"}, headers={"Authorization": f"Bearer {server.key}"}, timeout=10
    )
    assert "multipart/form-data" in envelope(r, 400)["message"]
    r = requests.post(
        f"{server.url}{EDITS}",
        data=b"--b\r\nnonsense",
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "multipart/form-data; boundary=b"},
        timeout=10,
    )
    assert envelope(r, 400)["type"] == "invalid_request_error"
    files = [("image", ("a.png", png(pattern("ramp")), "image/png"))]
    error = envelope(post_form(server, {"prompt": "x" * (2 * MB)}, files), 400)
    assert error["message"] == "A text field of the form is longer than 1 MB."


def test_an_unknown_or_text_only_model_is_not_found_model_not_found(client):
    for model in ("dall-e-2", "gpt-image-1", "wan2.2-t2i-flash", "qwen-image-plus"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.images.edit(model=model, image=upload(pattern("ramp")), prompt="p")
        assert caught.value.code == "model_not_found" and caught.value.param == "model"


def test_a_bad_key_is_authentication_error_before_the_form_is_read(server):
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.images.edit(image=upload(pattern("ramp")), prompt="p")
    assert caught.value.code == "invalid_api_key"


def test_stream_true_is_refused_for_now(server):
    files = [("image", ("a.png", png(pattern("ramp")), "image/png"))]
    error = envelope(post_form(server, {"prompt": "p", "stream": "true"}, files), 400)
    assert error["param"] == "stream"


def test_a_declared_body_past_the_cap_is_413_in_openais_envelope_before_it_is_read(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", EDITS)
    for name, value in (
        ("Authorization", f"Bearer {server.key}"),
        ("Content-Type", "multipart/form-data; boundary=b"),
        ("Content-Length", str(200 * MB)),  # wan2.6-image's four 10 MB images fit in well under this
    ):
        conn.putheader(name, value)
    conn.endheaders()
    answer = conn.getresponse()
    assert answer.status == 413
    body = json.loads(answer.read())
    assert body["error"]["type"] == "invalid_request_error"
    conn.close()


def test_openapi_documents_the_multipart_form_and_openais_answers(server):
    document = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    operation = document["paths"][EDITS]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["image"]["items"]["format"] == "binary"
    assert form["properties"]["mask"]["format"] == "binary"
    assert {"prompt", "model", "n", "size", "response_format", "function", "seed", "watermark"} <= set(
        form["properties"]
    )
    answers = operation["responses"]
    assert answers["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ImagesResponse")
    for status in ("400", "401", "404", "413", "429", "500"):
        assert answers[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")

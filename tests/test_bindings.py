"""The models file: which engine serves each model and function, its mistakes, and the
``GET /api/v1/models`` listing that shows the result.

Diffusers engines are bound to tiny random-weight pipelines (tiny_qwen.py); binding reads
only their model_index.json and folders, so nothing here runs a model but the one outpaint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from imagescope.config import Settings
from imagescope.models.catalog import Catalog
from imagescope.models.models_file import ModelsFileError, function_pipeline, load_bindings

# --- the built-in defaults -----------------------------------------------------------------


def listing(bindings) -> dict[str, dict]:
    return {entry["model"]: entry for entry in bindings.describe()}


def test_without_a_models_file_every_model_is_a_preview_but_super_resolution():
    catalog = Catalog()
    bindings = load_bindings(None, catalog)
    assert bindings.catalog is catalog and set(bindings.engines) == {"preview", "realesrgan"}
    models = listing(bindings)
    assert set(models) == set(catalog.models)
    for name, entry in models.items():
        assert (entry["engine"], entry["kind"], entry["preview"]) == ("preview", "preview", True), name
    functions = models["wanx2.1-imageedit"]["functions"]
    assert functions.pop("super_resolution") == {
        "engine": "realesrgan",
        "kind": "realesrgan",
        "variant": "photo",
        "preview": False,
    }
    assert {f["engine"] for f in functions.values()} == {"preview"}


def test_models_file_setting_comes_from_the_environment():
    assert Settings.from_env({}).models_file is None
    assert Settings.from_env({"IMAGESCOPE_MODELS_FILE": "/etc/models.toml"}).models_file == Path("/etc/models.toml")


def write(tmp_path: Path, text: str, name: str = "models.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_plain_binding_keeps_the_builtin_super_resolution_and_a_table_can_change_it(tmp_path):
    path = write(
        tmp_path,
        """
        [engines.demo]
        kind = "preview"
        [engines.sr-anime]
        kind = "realesrgan"
        variant = "anime"
        tile = 128
        [models]
        "wanx2.1-imageedit" = "demo"
        "wan2.2-t2i-flash" = "demo"
    """,
    )
    bindings = load_bindings(path, Catalog())
    spec = bindings.catalog.models["wanx2.1-imageedit"]
    assert spec.engine_for("colorization") == "demo" and spec.engine_for("super_resolution") == "realesrgan"
    assert bindings.engines["demo"] is bindings.engines[bindings.catalog.models["wan2.2-t2i-flash"].engine]

    path = write(
        tmp_path,
        path.read_text().replace('"wanx2.1-imageedit" = "demo"', "")
        + '[models."wanx2.1-imageedit"]\nsuper_resolution = "sr-anime"\n',
    )
    bindings = load_bindings(path, Catalog())
    entry = listing(bindings)["wanx2.1-imageedit"]
    assert entry["engine"] == "preview" and entry["functions"]["colorization"]["engine"] == "preview"
    assert entry["functions"]["super_resolution"] == {
        "engine": "sr-anime",
        "kind": "realesrgan",
        "variant": "anime",
        "preview": False,
    }
    assert (bindings.engines["sr-anime"].variant, bindings.engines["sr-anime"].tile) == ("anime", 128)


# --- mistakes: one error class, naming the file and the key ------------------------------

DIFFUSERS_X = '[engines.x]\nkind = "diffusers"\nweights = "w"\n'  # value checks come before the weights

MISTAKES = {
    "toml syntax": ('[models]\n"qwen-image" = \n', "not valid TOML"),
    "unknown section": ('[model]\n"qwen-image" = "preview"\n', "model: unknown section"),
    "unknown model": ('[models]\n"qwen-imag" = "preview"\n', 'models."qwen-imag": unknown model'),
    "unknown engine": (
        '[models]\n"qwen-image" = "qwen"\n',
        """models."qwen-image": unknown engine 'qwen'; engines: preview, realesrgan""",
    ),
    "no kind": (
        "[engines.x]\nvariant = 'anime'\n",
        "engines.x.kind: is required; one of preview, realesrgan, diffusers",
    ),
    "unknown kind": ('[engines.x]\nkind = "onnx"\n', "engines.x.kind: 'onnx' is not an engine kind"),
    "unknown option": (
        '[engines.x]\nkind = "realesrgan"\ncolour = 1\n',
        "engines.x.colour: unknown option of a realesrgan engine (options: variant, tile, precision)",
    ),
    "option of a wrong type": (
        '[engines.x]\nkind = "realesrgan"\ntile = "256"\n',
        "engines.x.tile: must be an integer, not '256'",
    ),
    "a bool is no integer": ('[engines.x]\nkind = "realesrgan"\ntile = true\n', "engines.x.tile: must be an integer"),
    "variant": (
        '[engines.x]\nkind = "realesrgan"\nvariant = "cartoon"\n',
        "engines.x.variant: must be photo or anime, not 'cartoon'",
    ),
    "tile": ('[engines.x]\nkind = "realesrgan"\ntile = 0\n', "engines.x.tile: must be at least 1, not 0"),
    "dtype": (DIFFUSERS_X + 'dtype = "bf17"\n', "engines.x.dtype: must be one of bf16, fp16, fp32, not 'bf17'"),
    "steps": (DIFFUSERS_X + "steps = 1\n", "engines.x.steps: must be at least 2, not 1"),
    "strength": (DIFFUSERS_X + "strength = 0\n", "engines.x.strength: must be in (0, 1], not 0"),
    "preload": (DIFFUSERS_X + 'preload = "yes"\n', "engines.x.preload: must be true or false"),
    "controlnet": (DIFFUSERS_X + "controlnet = 1\n", "engines.x.controlnet: must be a string, not 1"),
    "controlnet_conditioning_scale": (
        DIFFUSERS_X + "controlnet_conditioning_scale = 0\n",
        "engines.x.controlnet_conditioning_scale: must be greater than 0, not 0",
    ),
    "unknown option of a diffusers engine": (
        DIFFUSERS_X + "step = 4\n",
        "engines.x.step: unknown option of a diffusers engine (options: weights, "
        "pipeline, dtype, device, steps, true_cfg_scale,",
    ),
    "no option of a preview engine": (
        '[engines.x]\nkind = "preview"\nvariant = "anime"\n',
        "engines.x.variant: unknown option of a preview engine (options: none)",
    ),
    "an engine that is no table": ("[engines]\nx = 1\n", "engines.x: must be a table ([engines.x] with kind = ...)"),
    "engines that are no table": ("engines = 1\n", "engines: must be a table, not 1"),
    "models that are no table": ('models = "qwen"\n', "models: must be a table, not 'qwen'"),
    "a kind of a wrong type": ("[engines.x]\nkind = 1\n", "engines.x.kind: 1 is not an engine kind"),
    "no weights": (
        '[engines.x]\nkind = "diffusers"\n',
        "engines.x.weights: is required: a local diffusers weights directory",
    ),
    "a number": (DIFFUSERS_X + 'true_cfg_scale = "4"\n', "engines.x.true_cfg_scale: must be a number, not '4'"),
    "a date is no integer": (
        '[engines.x]\nkind = "realesrgan"\ntile = 1979-05-27\n',
        "engines.x.tile: must be an integer, not datetime.date(1979, 5, 27)",
    ),
    "a pipeline name": (
        DIFFUSERS_X + "[engines.x.pipelines]\ndoodle = 1\n",
        "engines.x.pipelines.doodle: must be a string, not 1",
    ),
    "device": (DIFFUSERS_X + 'device = "gpu"\n', "engines.x.device: must be auto, cpu, cuda or cuda:N, not 'gpu'"),
    "built-in name": (
        '[engines.realesrgan]\nkind = "realesrgan"\nvariant = "anime"\n',
        "engines.realesrgan: 'realesrgan' is a built-in engine; give yours another name",
    ),
    "unknown function": (
        '[models."wanx2.1-imageedit"]\ncolourise = "preview"\n',
        'models."wanx2.1-imageedit".colourise: unknown function of wanx2.1-imageedit; one of colorization,',
    ),
    "table for a model without functions": (
        '[models."qwen-image"]\ndefault = "preview"\n',
        'models."qwen-image": qwen-image has no functions',
    ),
    "realesrgan for text to image": (
        '[models]\n"qwen-image" = "realesrgan"\n',
        """models."qwen-image": engine 'realesrgan' is a realesrgan engine: """
        "it serves only super_resolution, not qwen-image",
    ),
    "realesrgan as a default": (
        '[models."wanx2.1-imageedit"]\ndefault = "realesrgan"\n',
        "models.\"wanx2.1-imageedit\".default: engine 'realesrgan' is a realesrgan engine",
    ),
    "realesrgan for another function": (
        '[engines.sr]\nkind = "realesrgan"\n[models."wanx2.1-imageedit"]\ncolorization = "sr"\n',
        "models.\"wanx2.1-imageedit\".colorization: engine 'sr' is a realesrgan engine: it serves only "
        "super_resolution, not wanx2.1-imageedit's colorization",
    ),
}


@pytest.mark.parametrize("text, message", MISTAKES.values(), ids=MISTAKES.keys())
def test_mistakes_name_the_file_and_the_key(tmp_path, text, message):
    if 'kind = "diffusers"' in text:
        pytest.importorskip("diffusers")
    path = write(tmp_path, text)
    with pytest.raises(ModelsFileError) as error:
        load_bindings(path, Catalog())
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value) and "pydantic" not in str(error.value)  # one line, in the file's words


def test_diffusers_steps_are_at_least_two_and_an_option_left_out_is_the_engines_default(tmp_path, weights):
    # One rule, the engine's: Qwen-Image's schedule (shift_terminal) has no one-step form.
    path = write(tmp_path, engine("q", weights["qwen"], steps=1) + '[models]\n"qwen-image" = "q"\n')
    with pytest.raises(ModelsFileError, match="engines.q.steps: must be at least 2, not 1"):
        load_bindings(path, Catalog())
    path = write(
        tmp_path,
        f'[engines.q]\nkind = "diffusers"\nweights = "{weights["qwen"]}"\ntrue_cfg_scale = 1\n'
        '[models]\n"qwen-image" = "q"\n',
    )
    options = load_bindings(path, Catalog()).engines["q"].options
    assert (options.steps, options.dtype, options.device, options.strength) == (50, "bf16", "auto", 0.6)
    assert options.true_cfg_scale == 1.0  # an integer is a number


def test_a_missing_models_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(ModelsFileError, match=f"{tmp_path / 'nope.toml'}: cannot read the models file"):
        load_bindings(tmp_path / "nope.toml", Catalog())


# --- diffusers engines on tiny weights -------------------------------------------------------


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """Tiny Qwen-Image and Qwen-Image-Edit-2509 weights directories, and a Qwen-Image ControlNet."""
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    import tiny_qwen

    root = tmp_path_factory.mktemp("weights")
    with tiny_qwen.video_processor_stand_in():
        return {
            "qwen": tiny_qwen.build_qwen_image(root / "Qwen-Image"),
            "edit": tiny_qwen.build_qwen_image_edit(root / "Qwen-Image-Edit-2509"),
            "controlnet": tiny_qwen.build_controlnet(root / "Qwen-Image-ControlNet"),
        }


def engine(name: str, weights: Path, **options) -> str:
    options = {"kind": "diffusers", "weights": str(weights), "device": "cpu", "dtype": "fp32", "steps": 2, **options}
    return "\n".join([f"[engines.{name}]", *(f"{key} = {json.dumps(value)}" for key, value in options.items())]) + "\n"


def test_models_bound_to_one_engine_share_one_instance(tmp_path, weights):
    path = write(
        tmp_path,
        engine("qwen", weights["qwen"])
        + """
        [models]
        "qwen-image" = "qwen"
        "qwen-image-plus" = "qwen"
        "wan2.2-t2i-plus" = "qwen"
    """,
    )
    bindings = load_bindings(path, Catalog())
    models = ("qwen-image", "qwen-image-plus", "wan2.2-t2i-plus")
    served = {bindings.engines[bindings.catalog.models[m].engine] for m in models}
    assert len(served) == 1
    (qwen,) = served
    assert type(qwen).__name__ == "DiffusersTextToImageEngine"
    assert qwen.options.pipeline == "QwenImagePipeline"  # the class the weights were saved as
    assert (qwen.options.device, qwen.options.dtype, qwen.options.steps) == ("cpu", "fp32", 2)
    assert listing(bindings)["qwen-image-plus"] == {
        "model": "qwen-image-plus",
        "endpoints": ["multimodal-generation", "text2image"],
        "engine": "qwen",
        "kind": "diffusers",
        "pipeline": "QwenImagePipeline",
        "preview": False,
    }
    assert listing(bindings)["wan2.5-t2i-preview"]["kind"] == "preview"


def test_imageedit_functions_get_the_pipeline_each_needs_on_one_engines_weights(tmp_path, weights):
    path = write(
        tmp_path,
        engine("qwen-edit", weights["edit"])
        + """
        [engines.sr-anime]
        kind = "realesrgan"
        variant = "anime"
        [models]
        "wan2.5-i2i-preview" = "qwen-edit"
        [models."wanx2.1-imageedit"]
        default = "qwen-edit"
        super_resolution = "sr-anime"
    """,
    )
    bindings = load_bindings(path, Catalog())
    functions = listing(bindings)["wanx2.1-imageedit"]["functions"]
    pipelines = {f: e.get("pipeline", e["engine"]) for f, e in functions.items()}
    assert pipelines == {
        "description_edit_with_mask": "QwenImageEditInpaintPipeline",
        "expand": "QwenImageEditInpaintPipeline",
        "stylization_all": "QwenImageImg2ImgPipeline",
        "description_edit": "QwenImageImg2ImgPipeline",
        "stylization_local": "QwenImageEditPlusPipeline",
        "remove_watermark": "QwenImageEditPlusPipeline",
        "colorization": "QwenImageEditPlusPipeline",
        "doodle": "QwenImageEditPlusPipeline",
        "control_cartoon_feature": "QwenImageEditPlusPipeline",
        "super_resolution": "sr-anime",
    }
    wanx, i2i = bindings.catalog.models["wanx2.1-imageedit"], bindings.catalog.models["wan2.5-i2i-preview"]
    assert bindings.engines[wanx.engine_for("colorization")] is bindings.engines[i2i.engine]
    inpaint = bindings.engines[wanx.engine_for("description_edit_with_mask")]
    assert bindings.engines[wanx.engine_for("expand")] is inpaint
    assert {e.options.weights for k, e in bindings.engines.items() if k.startswith("qwen-edit")} == {weights["edit"]}


def test_on_qwen_image_weights_imageedit_runs_img2img_and_inpaint():
    assert function_pipeline("QwenImageImg2ImgPipeline", "colorization") == "QwenImageImg2ImgPipeline"
    assert function_pipeline("QwenImageImg2ImgPipeline", "expand") == "QwenImageInpaintPipeline"
    assert function_pipeline("QwenImageEditInpaintPipeline", "doodle") == "QwenImageEditPipeline"
    assert function_pipeline("QwenImageEditPipeline", "edit") == "QwenImageEditPipeline"


def test_doodle_on_qwen_image_weights_with_a_controlnet_runs_the_controlnet_pipeline(tmp_path, weights):
    assert function_pipeline("QwenImageImg2ImgPipeline", "doodle", controlnet=True) == "QwenImageControlNetPipeline"
    assert function_pipeline("QwenImageImg2ImgPipeline", "colorization", controlnet=True) == "QwenImageImg2ImgPipeline"
    assert function_pipeline("QwenImageEditPlusPipeline", "doodle", controlnet=True) == "QwenImageEditPlusPipeline"

    shutil.copytree(weights["controlnet"], tmp_path / "models" / "ControlNet")
    path = write(
        tmp_path / "models",
        engine(
            "qwen-i2i",
            weights["qwen"],
            pipeline="QwenImageImg2ImgPipeline",
            controlnet="ControlNet",
            controlnet_conditioning_scale=0.7,
        )
        + '[models]\n"wanx2.1-imageedit" = "qwen-i2i"\n',
    )
    bindings = load_bindings(path, Catalog())
    functions = listing(bindings)["wanx2.1-imageedit"]["functions"]
    assert functions["doodle"] == {
        "engine": "qwen-i2i",
        "kind": "diffusers",
        "pipeline": "QwenImageControlNetPipeline",
        "preview": False,
    }
    assert functions["colorization"]["pipeline"] == "QwenImageImg2ImgPipeline"
    assert functions["expand"]["pipeline"] == "QwenImageInpaintPipeline"
    doodle = bindings.engines[bindings.catalog.models["wanx2.1-imageedit"].engine_for("doodle")]
    assert type(doodle).__name__ == "DiffusersEditEngine"
    assert doodle.options.controlnet == tmp_path / "models" / "ControlNet"  # relative to the models file
    assert doodle.options.controlnet_conditioning_scale == 0.7

    # Without a controlnet, doodle stays on img2img.
    path = write(
        tmp_path,
        engine("qwen-i2i", weights["qwen"], pipeline="QwenImageImg2ImgPipeline")
        + '[models]\n"wanx2.1-imageedit" = "qwen-i2i"\n',
    )
    assert listing(load_bindings(path, Catalog()))["wanx2.1-imageedit"]["functions"]["doodle"]["pipeline"] == (
        "QwenImageImg2ImgPipeline"
    )


def test_a_missing_or_unsuitable_controlnet_directory_is_named_when_the_file_is_read(tmp_path, weights):
    partial = shutil.copytree(weights["controlnet"], tmp_path / "partial")
    for part in partial.glob("*.safetensors"):
        part.unlink()
    cases = [
        (
            engine("q", weights["qwen"], pipeline="QwenImageImg2ImgPipeline", controlnet=str(tmp_path / "absent")),
            f"engines.q.controlnet: q controlnet not found: {tmp_path / 'absent'} (expected config.json)",
        ),
        (
            engine("q", weights["qwen"], pipeline="QwenImageImg2ImgPipeline", controlnet=str(partial)),
            f"engines.q.controlnet: q controlnet incomplete: {partial} has no weights",
        ),
        (
            engine("q", weights["edit"], controlnet=str(weights["controlnet"])),
            "engines.q.controlnet: a ControlNet runs on Qwen-Image (text-to-image) weights, not on "
            "QwenImageEditPlusPipeline ones",
        ),
        (
            engine("q", weights["qwen"], pipeline="QwenImageImg2ImgPipeline")
            + '[engines.q.pipelines]\ndoodle = "QwenImageControlNetPipeline"\n',
            "engines.q.weights: q:QwenImageControlNetPipeline: QwenImageControlNetPipeline needs controlnet, which",
        ),
    ]
    for text, message in cases:
        path = write(tmp_path, text + '[models]\n"wanx2.1-imageedit" = "q"\n')
        with pytest.raises(ModelsFileError) as error:
            load_bindings(path, Catalog())
        assert str(error.value).startswith(f"{path}: ") and message in str(error.value), text


def test_an_engines_pipelines_table_overrides_the_pipeline_of_a_function(tmp_path, weights):
    path = write(
        tmp_path,
        engine("qwen-edit", weights["edit"])
        + """
        [engines.qwen-edit.pipelines]
        description_edit = "QwenImageEditPlusPipeline"
        [models]
        "wanx2.1-imageedit" = "qwen-edit"
    """,
    )
    spec = load_bindings(path, Catalog()).catalog.models["wanx2.1-imageedit"]
    assert spec.engine_for("description_edit") == "qwen-edit"
    assert spec.engine_for("stylization_all") == "qwen-edit:QwenImageImg2ImgPipeline"


def test_expand_on_qwen_image_weights_paints_the_border_of_the_padded_canvas(tmp_path, weights):
    from PIL import Image

    from imagescope.engines import EditJob
    from imagescope.tasks.spec import ExpandScales, Function, Strength

    path = write(
        tmp_path,
        engine("qwen-i2i", weights["qwen"], pipeline="QwenImageImg2ImgPipeline")
        + '[models]\n"wanx2.1-imageedit" = "qwen-i2i"\n',
    )
    bindings = load_bindings(path, Catalog())
    inpaint = bindings.engines[bindings.catalog.models["wanx2.1-imageedit"].engine_for("expand")]
    scales = ExpandScales(top_scale=1.0, bottom_scale=1.5, left_scale=1.5, right_scale=1.0)
    job = EditJob(
        "wanx2.1-imageedit",
        Function.EXPAND,
        "a beach",
        "",
        (Image.new("RGB", (64, 64), "red"),),
        None,
        width=80,
        height=80,
        seed=1,
        index=0,
        count=1,
        options=scales,
    )
    prepared = inpaint._prepare(job)
    assert prepared.images[0].size == prepared.mask.size == (80, 80) and prepared.prompt == "a beach"
    assert prepared.mask.getpixel((0, 79)) == 255 and prepared.mask.getpixel((16, 0)) == 0  # image at left 16
    assert prepared.options == Strength(1.0)
    assert inpaint.edit(job).size == (80, 80)


def test_instruction_editing_puts_the_functions_instruction_before_the_prompt(tmp_path, weights):
    from PIL import Image

    from imagescope.engines import EditJob
    from imagescope.tasks.spec import Doodle, EditOptions, Function, Strength

    path = write(tmp_path, engine("qwen-edit", weights["edit"]) + '[models]\n"wanx2.1-imageedit" = "qwen-edit"\n')
    bindings = load_bindings(path, Catalog())
    spec = bindings.catalog.models["wanx2.1-imageedit"]

    def prepared(function: Function, options: EditOptions | None = None):
        job = EditJob(
            "wanx2.1-imageedit", function, "blue sky", "", (Image.new("RGB", (64, 64)),), None, 64, 64, 1, 0, 1, options
        )
        return bindings.engines[spec.engine_for(function)]._prepare(job)

    assert prepared(Function.COLORIZATION).prompt == "Colorize this black-and-white photo naturally. blue sky"
    assert prepared(Function.DOODLE, Doodle(is_sketch=True)).prompt.startswith("Turn this line drawing")
    assert prepared(Function.DOODLE, Doodle(is_sketch=False)).prompt.startswith("Turn this doodle")
    assert prepared(Function.STYLIZATION_ALL, Strength(0.0)).options == Strength(0.5)  # one of two steps
    assert prepared(Function.STYLIZATION_ALL, Strength(0.3)).prompt == "blue sky"  # img2img: the prompt as is


def test_pipelines_must_suit_the_models_they_serve(tmp_path, weights):
    cases = [
        (
            engine("q", weights["qwen"]) + '[models]\n"wan2.5-i2i-preview" = "q"\n',
            """models."wan2.5-i2i-preview": engine 'q' runs QwenImagePipeline, a text-to-image pipeline, """
            "but wan2.5-i2i-preview is an editing model",
        ),
        (
            engine("e", weights["edit"]) + '[models]\n"qwen-image" = "e"\n',
            """models."qwen-image": engine 'e' runs QwenImageEditPlusPipeline, an editing pipeline, """
            "but qwen-image is a text-to-image model",
        ),
        (
            engine("e", weights["qwen"], pipeline="QwenImageEditPlusPipeline")
            + '[models]\n"wan2.5-i2i-preview" = "e"\n',
            "engines.e.weights: e: QwenImageEditPlusPipeline needs processor, which",
        ),
        (
            engine("e", weights["edit"], pipeline="NopePipeline"),
            "engines.e.pipeline: diffusers 0.42.1 has no pipeline class 'NopePipeline'",
        ),
        (
            engine("e", weights["edit"]) + '[engines.e.pipelines]\ncolourise = "QwenImageEditPipeline"\n',
            "engines.e.pipelines.colourise: unknown function",
        ),
        (
            engine("e", weights["edit"])
            + '[engines.e.pipelines]\ndescription_edit_with_mask = "QwenImageEditPipeline"\n'
            + '[models]\n"wanx2.1-imageedit" = "e"\n',
            "engines.e: QwenImageEditPipeline, for wanx2.1-imageedit's description_edit_with_mask, takes no mask",
        ),
        (engine("e", weights["edit"], device="gpu"), "engines.e.device: must be auto, cpu, cuda or cuda:N, not 'gpu'"),
    ]
    for text, message in cases:
        path = write(tmp_path, text)
        with pytest.raises(ModelsFileError) as error:
            load_bindings(path, Catalog())
        assert str(error.value).startswith(f"{path}: ") and message in str(error.value), text


def test_a_missing_or_incomplete_weights_directory_is_named_when_the_file_is_read(tmp_path, weights):
    cases = [
        (tmp_path / "absent", f"engines.q.weights: weights directory not found: {tmp_path / 'absent'}"),
        (tmp_path / "empty", f"engines.q.weights: {tmp_path / 'empty'} has no model_index.json"),
        (
            tmp_path / "partial",
            f"engines.q.weights: q weights incomplete: {tmp_path / 'partial' / 'transformer'} is missing or empty",
        ),
    ]
    (tmp_path / "empty").mkdir()
    shutil.copytree(weights["qwen"], tmp_path / "partial")
    shutil.rmtree(tmp_path / "partial" / "transformer")
    for directory, message in cases:
        path = write(tmp_path, engine("q", directory) + '[models]\n"qwen-image" = "q"\n')
        with pytest.raises(ModelsFileError) as error:
            load_bindings(path, Catalog())
        assert message in str(error.value)


def test_weights_paths_are_relative_to_the_models_file_and_preload_loads_them(tmp_path, weights):
    from imagescope.engines.diffusers import weights as diffusers_weights

    shutil.copytree(weights["qwen"], tmp_path / "models" / "Qwen-Image")
    path = write(tmp_path / "models", engine("qwen", "Qwen-Image", preload=True) + '[models]\n"qwen-image" = "qwen"\n')
    bindings = load_bindings(path, Catalog())
    assert bindings.engines["qwen"].options.weights == tmp_path / "models" / "Qwen-Image"
    assert bindings.preload == ("qwen",)
    bindings.load()
    assert any(key[0] == str((tmp_path / "models" / "Qwen-Image").resolve()) for key in diffusers_weights.registry)
    with pytest.raises(ValueError, match="no engine named nope serves a model"):
        bindings.load(["nope"])


# --- the command line and the HTTP listing ------------------------------------------------------


def test_serve_with_a_bad_models_file_says_why_and_exits_non_zero(tmp_path):
    path = write(tmp_path, '[engines.x]\nkind = "realesrgan"\nvariant = "cartoon"\n[models]\n"qwen-image" = "x"\n')
    env = {**os.environ, "IMAGESCOPE_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "imagescope", "serve", "--models", str(path), "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"error: {path}: engines.x.variant: must be photo or anime, not 'cartoon'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_models_listing_shows_the_builtin_defaults(make_server):
    server = make_server()
    r = requests.get(f"{server.api}/models", headers=server.headers(asynchronous=False), timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request_id"]
    models = {entry["model"]: entry for entry in body["data"]}
    assert models["qwen-image"]["engine"] == "preview" and models["qwen-image"]["preview"] is True
    assert models["wanx2.1-imageedit"]["functions"]["super_resolution"]["engine"] == "realesrgan"
    assert requests.get(f"{server.api}/models", timeout=10).status_code == 401


def test_models_listing_shows_a_diffusers_binding(make_server, tmp_path, weights):
    path = write(tmp_path, engine("qwen", weights["qwen"]) + '[models]\n"qwen-image-plus" = "qwen"\n')
    server = make_server(IMAGESCOPE_MODELS_FILE=str(path))
    data = requests.get(f"{server.api}/models", headers=server.headers(asynchronous=False), timeout=10).json()["data"]
    models = {entry["model"]: entry for entry in data}
    assert models["qwen-image-plus"] == {
        "model": "qwen-image-plus",
        "endpoints": ["multimodal-generation", "text2image"],
        "engine": "qwen",
        "kind": "diffusers",
        "pipeline": "QwenImagePipeline",
        "preview": False,
    }
    assert models["qwen-image"]["kind"] == "preview"

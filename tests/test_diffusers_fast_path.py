"""The GPU fast path's models-file options on tiny random-weight Qwen-Image pipelines, on the CPU.

Each option is loaded through the engines' own code and checked three ways: it is applied
(the LoRA fused, the scheduler shifted, the linears FP8, the blocks compiled, blocks skipped
by the cache, one batched transformer call per step), the pictures keep their size, and a
seed gives the same pixels twice. Speed is the GPU's business (benchmarks/gpu_check.sh).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import requests
import torch

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from diffusers import QwenImagePipeline, QwenImageTransformer2DModel  # noqa: E402
from peft import LoraConfig  # noqa: E402
from peft.utils import get_peft_model_state_dict  # noqa: E402

import tiny_qwen  # noqa: E402
from conftest import download  # noqa: E402
from imagescope.engines import ImageJob
from imagescope.engines.diffusers.engine import DiffusersOptions, DiffusersTextToImageEngine, EngineConfigError
from imagescope.engines.diffusers.weights import shared_pipeline
from imagescope.models.catalog import Catalog
from imagescope.models.models_file import ModelsFileError, load_bindings
from test_diffusers_http import InProcessServer, engine_table, t2i  # noqa: E402

PROMPT = "a red cat on a blue sofa"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """The tiny Qwen-Image; one with three blocks (a cache has blocks to skip); a random LoRA for both."""
    root = tmp_path_factory.mktemp("weights")
    components = tiny_qwen._components(with_processor=False)
    QwenImagePipeline(**components).save_pretrained(root / "Qwen-Image")
    torch.manual_seed(3)
    components["transformer"] = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=tiny_qwen.Z_DIM * 4,
        out_channels=tiny_qwen.Z_DIM,
        num_layers=3,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=tiny_qwen.TEXT_HIDDEN,
        axes_dims_rope=(4, 6, 6),
    )
    QwenImagePipeline(**components).save_pretrained(root / "Qwen-Image-3")
    return {"image": root / "Qwen-Image", "deep": root / "Qwen-Image-3", "lora": build_lora(root / "Lightning")}


def build_lora(path: Path) -> Path:
    """A random rank-4 LoRA on the tiny transformer's attention, saved as Lightning's are."""
    torch.manual_seed(5)
    transformer = tiny_qwen.build_transformer()
    # Random B as well as A (peft starts B at zero), so the LoRA changes the picture.
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    transformer.add_adapter(config)
    QwenImagePipeline.save_lora_weights(path, transformer_lora_layers=get_peft_model_state_dict(transformer))
    return path


def engine(weights: Path, **overrides) -> DiffusersTextToImageEngine:
    settings = {"dtype": "fp32", "device": "cpu", "steps": 2, **overrides}
    return DiffusersTextToImageEngine("qwen-image", DiffusersOptions(weights, **settings))


def pixels(engine: DiffusersTextToImageEngine, seed: int = 7, negative: str = "") -> np.ndarray:
    return np.asarray(engine.generate(ImageJob("qwen-image", PROMPT, negative, 64, 48, seed, 0, 1)))


def assert_sized_and_deterministic(engine: DiffusersTextToImageEngine) -> np.ndarray:
    first = pixels(engine)
    assert first.shape == (48, 64, 3)
    assert np.array_equal(first, pixels(engine))  # same seed, same pixels
    assert not np.array_equal(first, pixels(engine, seed=8))
    return first


def count_calls(modules) -> list[int]:
    """Each call's batch size, for every module in ``modules`` (forward hooks)."""
    calls: list[int] = []

    def hook(_module, args, kwargs, _output) -> None:
        calls.append((args[0] if args else kwargs["hidden_states"]).shape[0])

    for module in modules:
        module.register_forward_hook(hook, with_kwargs=True)
    return calls


# --- a distilled-step LoRA and its scheduler ------------------------------------------------


def test_lora_is_fused_into_the_transformer_with_its_scheduler_shift_and_cfg_off(weights):
    plain = engine(weights["image"], true_cfg_scale=1.0)
    lightning = engine(weights["image"], lora=weights["lora"], steps=4, true_cfg_scale=1.0, scheduler_shift=3.0)
    base, _ = shared_pipeline("plain", plain.options)
    pipe, _ = shared_pipeline("lightning", lightning.options)
    assert pipe is not base and pipe.transformer is not base.transformer  # its own copy of the modules

    # Fused: the attention weights moved by the LoRA's delta, and no adapter layers are left.
    block, base_block = pipe.transformer.transformer_blocks[0], base.transformer.transformer_blocks[0]
    assert not block.attn.to_q.weight.equal(base_block.attn.to_q.weight)
    assert block.attn.add_q_proj.weight.equal(base_block.attn.add_q_proj.weight)  # not a LoRA target
    assert not any("lora" in type(module).__name__.lower() for module in pipe.transformer.modules())

    # Lightning's scheduler: shift 3 at every size, no terminal stretch.
    config = pipe.scheduler.config
    assert config.base_shift == config.max_shift == pytest.approx(math.log(3.0))
    assert config.shift_terminal is None and base.scheduler.config.shift_terminal == 0.02

    picture = assert_sized_and_deterministic(lightning)
    assert not np.array_equal(picture, pixels(plain))


def test_a_distilled_step_lora_runs_without_cfg_and_the_directory_must_hold_weights(weights, tmp_path):
    with pytest.raises(EngineConfigError, match=r"^true_cfg_scale must be at most 1 with a distilled-step lora"):
        DiffusersOptions(weights["image"], lora=weights["lora"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineConfigError, match="lora incomplete: .* has no \\*.safetensors"):
        engine(weights["image"], lora=empty, true_cfg_scale=1.0).generate(
            ImageJob("qwen-image", PROMPT, "", 64, 64, 1, 0, 1)
        )


# --- FP8, compilation, caches -------------------------------------------------------------


def test_fp8_quantizes_the_transformers_linears_and_still_draws(weights):
    pytest.importorskip("torchao")
    fp8 = engine(weights["image"], dtype="bf16", quantize="fp8")
    pipe, _ = shared_pipeline("fp8", fp8.options)
    weight = pipe.transformer.transformer_blocks[0].attn.to_q.weight
    assert type(weight).__name__ == "Float8Tensor" and weight.qdata.dtype == torch.float8_e4m3fn
    assert type(pipe.vae.decoder.conv_in.weight) is torch.nn.Parameter  # only the transformer
    assert_sized_and_deterministic(fp8)


def test_compile_compiles_each_repeated_block_and_draws_the_same_picture(weights):
    compiled = engine(weights["image"], compile=True)
    pipe, _ = shared_pipeline("compiled", compiled.options)
    blocks = pipe.transformer.transformer_blocks
    assert all(block._compiled_call_impl is not None for block in blocks)
    assert pipe.transformer._compiled_call_impl is None  # regional: the blocks, not the model
    picture = assert_sized_and_deterministic(compiled)
    eager = pixels(engine(weights["image"]))
    assert np.abs(picture.astype(int) - eager.astype(int)).max() <= 2


@pytest.mark.parametrize(
    "cache",
    [
        {"cache": "first_block", "cache_threshold": 1e9},  # after step 1, blocks 2-3 reused
        {"cache": "taylorseer", "cache_interval": 3, "cache_warmup": 1},  # step 1 in full, then 1 in 3
    ],
    ids=["first_block", "taylorseer"],
)
def test_step_caches_skip_transformer_blocks_and_keep_seeds(weights, cache):
    steps = 4
    plain = engine(weights["deep"], steps=steps, true_cfg_scale=1.0)
    cached = engine(weights["deep"], steps=steps, true_cfg_scale=1.0, **cache)
    plain_pipe, _ = shared_pipeline("plain", plain.options)
    pipe, _ = shared_pipeline("cached", cached.options)
    plain_calls = count_calls(block.attn.to_q for block in plain_pipe.transformer.transformer_blocks[1:])
    calls = count_calls(block.attn.to_q for block in pipe.transformer.transformer_blocks[1:])
    pixels(plain)
    pixels(cached)
    assert len(plain_calls) == steps * 2  # two blocks after the first, every step
    assert 0 < len(calls) < len(plain_calls)
    first = len(calls)
    calls.clear()
    assert_sized_and_deterministic(cached)  # three runs: the cache starts afresh each time
    assert len(calls) == 3 * first


# --- CFG in one batch -----------------------------------------------------------------------


def test_cfg_batch_runs_one_transformer_call_per_step_with_the_two_pass_picture(weights):
    two_pass = engine(weights["image"], steps=3, true_cfg_scale=4.0)
    batched = engine(weights["image"], steps=3, true_cfg_scale=4.0, cfg_batch=True)
    pipe, _ = shared_pipeline("two-pass", two_pass.options)
    assert shared_pipeline("batched", batched.options)[0] is pipe  # same modules: batching is per call
    calls = count_calls([pipe.transformer.transformer_blocks[0]])

    expected = pixels(two_pass, negative="blurry, low quality")
    assert calls == [1] * 6  # prompt and negative prompt, a call each, each step
    calls.clear()
    picture = pixels(batched, negative="blurry, low quality")
    assert calls == [2] * 3  # one call on both, each step
    assert np.abs(picture.astype(int) - expected.astype(int)).max() <= 1
    assert np.array_equal(picture, pixels(batched, negative="blurry, low quality"))
    assert "forward" not in pipe.transformer.__dict__  # unwrapped after the call
    calls.clear()
    pixels(batched)  # an empty negative prompt is " ": still CFG, still batched
    assert calls == [2] * 3


# --- the models file ------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "option, message",
    [
        ('cache = "second_block"', "engines.q.cache: must be first_block or taylorseer, not 'second_block'"),
        ('quantize = "int4"', "engines.q.quantize: must be fp8, not 'int4'"),
        (
            'cache = "first_block"\ncache_interval = 2',
            "engines.q.cache_interval: must be at least 1, with cache = taylorseer",
        ),
        ("scheduler_shift = -3.0", "engines.q.scheduler_shift: must be greater than 0, not -3.0"),
        ('lora = "lightning"', "true_cfg_scale must be at most 1 with a distilled-step lora (CFG off), not 4.0"),
        ("compile = 1", "engines.q.compile: must be true or false, not 1"),
    ],
    ids=["cache", "quantize", "cache_interval", "scheduler_shift", "lora-cfg", "compile"],
)
def test_models_file_refuses_bad_fast_path_values_naming_the_key(tmp_path, weights, option, message):
    path = write(tmp_path, engine_table("q", weights["image"]) + option + '\n[models]\n"qwen-image" = "q"\n')
    with pytest.raises(ModelsFileError) as error:
        load_bindings(path, Catalog())
    assert message in str(error.value)


def test_models_file_lora_is_relative_to_the_files_folder(tmp_path, weights):
    (tmp_path / "lightning").symlink_to(weights["lora"])
    table = (
        engine_table("q", weights["image"], steps=4)
        + 'lora = "lightning"\ntrue_cfg_scale = 1.0\nscheduler_shift = 3.0\n'
    )
    options = load_bindings(write(tmp_path, table + '[models]\n"qwen-image" = "q"\n'), Catalog()).engines["q"].options
    assert options.lora == tmp_path / "lightning" and options.scheduler_shift == 3.0


def test_fast_path_engine_serves_text_to_image_through_the_api(tmp_path, weights):
    table = engine_table("fast", weights["image"], steps=4)
    table += f'lora = "{weights["lora"]}"\ntrue_cfg_scale = 1.0\nscheduler_shift = 3.0\ncfg_batch = true\n'
    server = InProcessServer(tmp_path / "data", table + '[models]\n"wan2.2-t2i-flash" = "fast"\n')
    try:
        listing = requests.get(server.api + "/models", headers=server.headers(False), timeout=10).json()
        assert {m["model"]: m.get("kind") for m in listing["data"]}["wan2.2-t2i-flash"] == "diffusers"
        done = server.wait(server.submit(t2i("wan2.2-t2i-flash", n=1, seed=11)))
        assert done["output"]["task_status"] == "SUCCEEDED", done
        served = np.asarray(download(done["output"]["results"][0]["url"]))
        direct = engine(weights["image"], steps=4, lora=weights["lora"], true_cfg_scale=1.0, scheduler_shift=3.0)
        expected = direct.generate(ImageJob("wan2.2-t2i-flash", PROMPT, "", 512, 512, 11, 0, 1))
        assert served.shape == (512, 512, 3) and np.array_equal(served, np.asarray(expected))
    finally:
        server.stop()

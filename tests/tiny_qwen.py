"""Tiny random-weight Qwen-Image pipelines, built offline and saved like the real weights.

The real classes (QwenImageTransformer2DModel, AutoencoderKLQwenImage, Qwen2.5-VL text
encoder, Qwen2 tokenizer, Qwen2-VL processor, flow-match scheduler) with every size cut
down, so a whole pipeline runs in well under a second on a CPU. Nothing is downloaded:
the tokenizer's BPE vocabulary is trained here on a few sentences.

    build_qwen_image(path)       # what Qwen/Qwen-Image holds: text-to-image, img2img, inpaint
    build_qwen_image_edit(path)  # what Qwen/Qwen-Image-Edit(-2509) holds: + processor
    build_controlnet(path)       # a ControlNet for build_qwen_image's transformer (InstantX's layout)

The Wan and Z-Image builders are in tiny_wan.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from diffusers import (
    AutoencoderKLQwenImage,
    FlowMatchEulerDiscreteScheduler,
    QwenImageControlNetModel,
    QwenImageEditPipeline,
    QwenImageEditPlusPipeline,
    QwenImagePipeline,
    QwenImageTransformer2DModel,
)
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2Tokenizer,
    Qwen2VLImageProcessorPil,
    Qwen2VLProcessor,
)

# The special tokens the pipelines' chat templates use, in Qwen2.5-VL's order.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

_CORPUS = [
    "Describe the image by detailing the color, shape, size, texture, quantity, text, "
    "spatial relationships of the objects and background:",
    "Describe the key features of the input image (color, shape, size, texture, objects, "
    "background), then explain how the user's text instruction should alter or modify the "
    "image. Generate a new image that meets the user's requirements while maintaining "
    "consistency with the original input where appropriate.",
    "system user assistant Picture 1: Picture 2: Picture 3:",
    "a red cat on a blue sofa, a lighthouse at dusk, blurry, low quality, watermark",
]

Z_DIM = 4  # latent channels of the tiny VAE
TEXT_HIDDEN = 32  # text encoder width = the transformer's joint_attention_dim


def build_tokenizer() -> Qwen2Tokenizer:
    """A byte-level BPE of a few hundred tokens, trained here, plus Qwen's special tokens."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator(_CORPUS, trainer)
    trained = json.loads(bpe.to_str())["model"]
    tokenizer = Qwen2Tokenizer(  # <|endoftext|> is its unk, eos and pad token
        vocab=trained["vocab"],
        merges=[tuple(merge) for merge in trained["merges"]],
        model_max_length=4096,
    )
    tokenizer.add_tokens(SPECIAL_TOKENS[1:], special_tokens=True)
    return tokenizer


def build_text_encoder(tokenizer: Qwen2Tokenizer) -> Qwen2_5_VLForConditionalGeneration:
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    heads = 2
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": heads,
            "num_key_value_heads": heads,
            "max_position_embeddings": 4096,
            # mrope sections sum to half the head dim (32 / 2 heads / 2 = 8).
            "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1e6},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_heads": 2,
            "out_hidden_size": TEXT_HIDDEN,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def build_processor(tokenizer: Qwen2Tokenizer) -> Qwen2VLProcessor:
    # Few pixels for the vision tower: at most 8x8 patches of 14, i.e. 16 image tokens.
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    video_processor = _video_processor_class()()
    return Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor)


def torchvision_works() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or a CUDA build next to a CPU torch
        return False
    return True


def _video_processor_class() -> type:
    if torchvision_works():
        from transformers import Qwen2VLVideoProcessor

        return Qwen2VLVideoProcessor
    from transformers.video_processing_utils import VideoProcessorMixin

    return VideoProcessorMixin


class _StandInVideoProcessorLoader:
    """Loads the video part of a saved Qwen2VLProcessor as a bare ``VideoProcessorMixin``."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        from transformers.video_processing_utils import VideoProcessorMixin

        return VideoProcessorMixin()


@contextmanager
def video_processor_stand_in() -> Iterator[None]:
    """Let Qwen2VLProcessor be built and loaded where torchvision is unusable.

    transformers 5 makes every Qwen2-VL processor hold a video processor, and its video
    processors need torchvision; this machine's torch is a CPU build and the only
    torchvision wheels at hand are CUDA builds that fail to import. The edit pipelines
    never pass videos, so a bare ``VideoProcessorMixin`` stands in for the video part,
    for building and for loading. Where torchvision imports, this changes nothing.
    """
    if torchvision_works():
        yield
        return
    from transformers import processing_utils
    from transformers.video_processing_utils import VideoProcessorMixin

    names = processing_utils._LazyAutoProcessorMapping._MAPPING_NAMES
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            processing_utils.transformers_module,
            "VideoProcessorMixin",
            VideoProcessorMixin,
            raising=False,
        )
        patch.setitem(names, "video_processor", (__name__, "_StandInVideoProcessorLoader"))
        yield


def build_transformer() -> QwenImageTransformer2DModel:
    return QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=Z_DIM * 4,  # 2x2 packed latents
        out_channels=Z_DIM,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_HIDDEN,
        axes_dims_rope=(4, 6, 6),  # sums to attention_head_dim
    )


def build_controlnet(path: Path) -> Path:
    """A tiny QwenImageControlNetModel directory (config.json + weights), as
    InstantX/Qwen-Image-ControlNet-Union holds one, for build_qwen_image's transformer.

    QwenImageControlNetPipeline VAE-encodes the control image and packs its latents 2x2 like
    the picture's, so the ControlNet's input is the transformer's (Z_DIM * 4) and needs no
    extra condition channels (those are for the inpainting ControlNet's mask). diffusers
    zero-initialises the blocks that add the ControlNet's output to the transformer, as
    training starts; they get random weights here, so the control image changes the picture.
    """
    torch.manual_seed(1)
    controlnet = QwenImageControlNetModel(
        patch_size=2,
        in_channels=Z_DIM * 4,
        out_channels=Z_DIM,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_HIDDEN,
        axes_dims_rope=(4, 6, 6),
        extra_condition_channels=0,
    )
    with torch.no_grad():
        for layer in [*controlnet.controlnet_blocks, controlnet.controlnet_x_embedder]:
            torch.nn.init.normal_(layer.weight, std=1.0)
            torch.nn.init.normal_(layer.bias, std=1.0)
    controlnet.save_pretrained(path)
    return path


def build_vae() -> AutoencoderKLQwenImage:
    # Three down-sampling stages like the real VAE, so images are 8x the latents. The edit
    # pipelines encode every input at about a megapixel whatever its size, so the stages
    # are as thin as they go: 4 channels, no residual blocks besides the middle ones.
    return AutoencoderKLQwenImage(
        base_dim=4,
        z_dim=Z_DIM,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=0,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * Z_DIM,
        latents_std=[1.0] * Z_DIM,
    )


def _components(with_processor: bool) -> dict:
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    components = {
        "transformer": build_transformer(),
        "vae": build_vae(),
        "text_encoder": build_text_encoder(tokenizer),
        "tokenizer": tokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler(
            base_image_seq_len=256,
            max_image_seq_len=8192,
            base_shift=0.5,
            max_shift=0.9,
            use_dynamic_shifting=True,
            shift_terminal=0.02,
            time_shift_type="exponential",
        ),
    }
    if with_processor:
        components["processor"] = build_processor(tokenizer)
    return components


def build_qwen_image(path: Path) -> Path:
    """A tiny Qwen-Image weights directory (model_index.json + one folder per component)."""
    QwenImagePipeline(**_components(with_processor=False)).save_pretrained(path)
    return path


def build_qwen_image_edit(path: Path, plus: bool = True) -> Path:
    """A tiny Qwen-Image-Edit-2509 (``plus``) or Qwen-Image-Edit weights directory."""
    cls = QwenImageEditPlusPipeline if plus else QwenImageEditPipeline
    cls(**_components(with_processor=True)).save_pretrained(path)
    return path

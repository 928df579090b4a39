"""Tiny random-weight Wan video and Z-Image pipelines, built offline and saved like the real weights.

The real classes (WanTransformer3DModel, WanVACETransformer3DModel, AutoencoderKLWan, UMT5, CLIP
vision; ZImageTransformer2DModel, AutoencoderKL, Qwen3) with every size cut down, so a whole
pipeline runs in a fraction of a second on a CPU. Nothing is downloaded: the tokenizer is
tiny_qwen's, trained here on a few sentences.

    build_wan_t2v(path)                  # what Wan-AI/Wan2.1-T2V-*-Diffusers holds
    build_wan_i2v(path)                  # Wan2.1-I2V: CLIP image encoder, one image embedding
    build_wan_i2v(path, "flf2v")         # Wan2.1-FLF2V: two image embeddings, position-embedded
    build_wan_i2v(path, "wan2.2")        # Wan2.2-I2V: no image encoder, two experts by noise level
    build_wan_i2v(path, "ti2v")          # Wan2.2-TI2V-5B: expand_timesteps (first frame only)
    build_wan_vace(path)                 # Wan2.1-VACE
    build_zimage(path)                   # Tongyi-MAI/Z-Image-Turbo
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLWan,
    FlowMatchEulerDiscreteScheduler,
    WanImageToVideoPipeline,
    WanPipeline,
    WanTransformer3DModel,
    WanVACEPipeline,
    WanVACETransformer3DModel,
    ZImagePipeline,
    ZImageTransformer2DModel,
)
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    CLIPVisionModel,
    Qwen3Config,
    Qwen3Model,
    UMT5Config,
    UMT5EncoderModel,
)

from tiny_qwen import TEXT_HIDDEN, build_tokenizer

Z_DIM = 16  # the Wan VAE's latent channels (the transformer's in/out channels)
CLIP_SIDE = 8  # the tiny CLIP's image side, patch 1: 65 tokens per image (64 patches + class)
# Z-Image's prompt template (Qwen3's chat template, cut to what ZImagePipeline asks of it).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _text_encoder(tokenizer) -> UMT5EncoderModel:
    return UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=TEXT_HIDDEN,
            d_kv=8,
            d_ff=64,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()


def _vae() -> AutoencoderKLWan:
    # 8x in space, 4x in time (two temporal down-samplings), as the real Wan 2.1 VAE.
    return AutoencoderKLWan(
        base_dim=3, z_dim=Z_DIM, dim_mult=[1, 1, 1, 1], num_res_blocks=0, temperal_downsample=[False, True, True]
    )


def _transformer(cls: type = WanTransformer3DModel, **overrides) -> WanTransformer3DModel:
    settings = dict(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=Z_DIM,
        out_channels=Z_DIM,
        text_dim=TEXT_HIDDEN,
        freq_dim=256,
        ffn_dim=32,
        num_layers=1,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=128,  # positions per axis: 832*480 is 104x60 latents, 52x30 patches
    )
    return cls(**{**settings, **overrides})


def _common() -> dict:
    torch.manual_seed(0)
    tokenizer = build_tokenizer()  # Wan's is T5's; any tokenizer with a pad token will do here
    return {
        "tokenizer": tokenizer,
        "text_encoder": _text_encoder(tokenizer),
        "vae": _vae(),
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),
    }


def build_wan_t2v(path: Path, layers: int = 1) -> Path:
    """A tiny Wan 2.1 text-to-video weights directory (``layers`` transformer blocks)."""
    common = _common()
    WanPipeline(transformer=_transformer(num_layers=layers), **common).save_pretrained(path)
    return path


def build_wan_i2v(path: Path, kind: str = "wan2.1") -> Path:
    """A tiny image-to-video weights directory of ``kind``: wan2.1 (I2V, CLIP), flf2v (FLF2V:
    CLIP, the two frames' embeddings position-embedded), wan2.2 (I2V-A14B: no CLIP, a second
    transformer for the low-noise steps) or ti2v (TI2V-5B: expand_timesteps)."""
    common = _common()
    # The latents, the first (and last) frame's latents and the 4-channel frame mask.
    conditioned = 2 * Z_DIM + 4
    extra: dict = {}
    if kind in ("wan2.1", "flf2v"):
        tokens = CLIP_SIDE * CLIP_SIDE + 1
        transformer = _transformer(
            in_channels=conditioned, image_dim=4, pos_embed_seq_len=2 * tokens if kind == "flf2v" else None
        )
        extra["image_encoder"] = CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=4,
                num_hidden_layers=1,
                num_attention_heads=2,
                image_size=CLIP_SIDE,
                intermediate_size=8,
                patch_size=1,
            )
        ).eval()
        extra["image_processor"] = CLIPImageProcessor(crop_size=CLIP_SIDE, size=CLIP_SIDE)
    elif kind == "wan2.2":
        transformer = _transformer(in_channels=conditioned)
        extra.update(transformer_2=_transformer(in_channels=conditioned), boundary_ratio=0.5)
    elif kind == "ti2v":  # the first frame's latents replace the first latent frame: no extra channels
        transformer = _transformer()
        extra["expand_timesteps"] = True
    else:
        raise ValueError(f"unknown kind {kind!r}")
    WanImageToVideoPipeline(transformer=transformer, **common, **extra).save_pretrained(path)
    return path


def build_wan_vace(path: Path) -> Path:
    """A tiny Wan 2.1 VACE weights directory: the control branch on layers 0 and 1."""
    common = _common()
    # The control latents: the input clip's kept and redrawn parts (2 x 16) and the mask's 8x8 pixels.
    transformer = _transformer(WanVACETransformer3DModel, num_layers=2, vace_layers=[0, 1], vace_in_channels=96)
    WanVACEPipeline(transformer=transformer, **common).save_pretrained(path)
    return path


def build_zimage(path: Path) -> Path:
    """A tiny Z-Image-Turbo weights directory (Qwen3 text encoder, a 16-channel VAE)."""
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    text_hidden = 16
    text_encoder = Qwen3Model(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=text_hidden,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=1024,
        )
    ).eval()
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=1,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        cap_feat_dim=text_hidden,
        axes_dims=[8, 4, 4],
        axes_lens=[1024, 128, 128],  # positions: z-image draws at least 512*512 (32x32 patches)
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 8, 8, 8],
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=4,
        scaling_factor=0.3611,
        shift_factor=0.1159,
    )
    ZImagePipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    ).save_pretrained(path)
    return path

"""Pictures of an image on its way (OpenAI's ``partial_images``): the pipeline's current latents,
decoded with its own VAE after evenly spaced denoising steps.

A picture after step s of T is what the latents hold then: noise at first, the image's shapes
and colours by the middle. The steps are ``round(T * i / (k + 1))`` for i = 1..k, never the
last (that one is the image itself): with fewer steps than pictures asked for, fewer come.

Decoding reads the latents the way QwenImagePipeline's own last step does (unpack the 2x2
patches, undo the VAE's per-channel normalisation, decode the first frame), so it serves the
Qwen-Image pipelines, whose latents are packed. A pipeline whose latents it cannot read
(Wan's video latents) gives no picture on the way: its stream carries the finished image only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from imagescope.engines.base import ImageJob, Partial
from imagescope.engines.diffusers.sizes import fit, round_up, size_step

# Called after each denoising step with (pipe, step from 1, total steps, the current latents).
LatentsHook = Callable[[Any, int, int, Any], None]


def partial_steps(total: int, count: int) -> frozenset[int]:
    """The steps (1-based) after which a picture is decoded: ``count`` evenly spaced over
    ``total``, none at the last step."""
    return frozenset(round(total * i / (count + 1)) for i in range(1, count + 1)) & frozenset(range(1, total))


def decodes_latents(pipe: Any) -> bool:
    """Whether ``pipe``'s latents can be decoded between steps (packed latents, a normalised VAE)."""
    config = getattr(getattr(pipe, "vae", None), "config", None)
    return (
        callable(getattr(pipe, "_unpack_latents", None))
        and getattr(config, "latents_mean", None) is not None
        and getattr(config, "latents_std", None) is not None
        and hasattr(pipe, "image_processor")
    )


def decode_latents(pipe: Any, latents: torch.Tensor, width: int, height: int) -> Image.Image:
    """The first picture of a batch of packed latents, at the pipeline's ``width`` x ``height``
    (the size it was called with). ``pipe``: a pipeline ``decodes_latents`` accepted."""
    vae = pipe.vae
    with torch.no_grad():
        unpacked = pipe._unpack_latents(latents[:1], height, width, pipe.vae_scale_factor).to(vae.dtype)
        shape = (1, vae.config.z_dim, 1, 1, 1)
        mean = torch.tensor(vae.config.latents_mean).view(shape).to(unpacked.device, unpacked.dtype)
        std = torch.tensor(vae.config.latents_std).view(shape).to(unpacked.device, unpacked.dtype)
        decoded = vae.decode(unpacked * std + mean, return_dict=False)[0][:, :, 0]
        pictures = pipe.image_processor.postprocess(decoded, output_type="pil")
    picture: Image.Image = pictures[0]
    return picture.convert("RGB")


def partial_hook(job: ImageJob, partial: Partial) -> LatentsHook:
    """Hands ``partial`` the job's picture after each of its evenly spaced steps, fitted to the job's size."""

    def on_latents(pipe: Any, step: int, total: int, latents: Any) -> None:
        if step in partial_steps(total, job.partial_images) and decodes_latents(pipe):
            step_px = size_step(pipe)
            width, height = round_up(job.width, step_px), round_up(job.height, step_px)
            partial(fit(decode_latents(pipe, latents, width, height), job.width, job.height, step_px))

    return on_latents

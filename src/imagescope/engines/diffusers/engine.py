"""diffusers engines: Qwen-Image text-to-image and image editing on a GPU.

    engine = DiffusersTextToImageEngine("qwen-image", DiffusersOptions("/models/Qwen-Image"))
    image = engine.generate(job)  # loads the weights on first use; engine.load() loads now
    editor = DiffusersEditEngine(
        "qwen-image-edit", DiffusersOptions("/models/Qwen-Image-Edit-2509", "QwenImageEditPlusPipeline")
    )
    image = editor.edit(job)  # an engines.base.EditJob; strength from job.options (a Strength)
    doodle = DiffusersEditEngine(
        "doodle", DiffusersOptions("/models/Qwen-Image", "QwenImageControlNetPipeline",
                                   controlnet="/models/Qwen-Image-ControlNet-Union")
    )

Weights are a local diffusers directory, loaded with ``local_files_only=True``. Engines on
one directory, dtype and device share one copy in memory (Qwen-Image's text-to-image,
img2img and inpaint pipelines are the same weights, built on each other with
``from_pipe``), and their calls take one lock, one at a time.

Sizes: the pipelines work in 16-pixel steps (8x VAE, 2x2 latent patches) and round other
sizes down. The engines ask for the size rounded *up* and centre-crop the result (at most
15 pixels per axis, no resampling). A picture to repaint (img2img, inpaint) is fitted to
the job's size and edge-padded, so the crop returns exactly its pixels' places. A
pipeline that picks its own size (QwenImageEditInpaintPipeline: the input's aspect at
about a megapixel) is scaled to cover the job's size and centre-cropped.

ControlNet: QwenImageControlNetPipeline draws a Qwen-Image picture from noise, guided by the
job's first image (``control_image``, fitted and padded like a picture to repaint) through the
ControlNet in ``options.controlnet`` (a local diffusers model directory, e.g.
InstantX/Qwen-Image-ControlNet-Union), loaded once per process and shared by the engines
naming it; wanx2.1-imageedit's ``doodle`` runs on it when the models file says so.

Negative prompts: with ``true_cfg_scale > 1`` every call runs QwenImagePipeline's true
classifier-free guidance, against the job's negative prompt or, when empty, ``" "`` (as
the Qwen-Image model card does); with ``true_cfg_scale <= 1`` it is ignored and a step
costs one transformer pass instead of two. ``cfg_batch`` makes the two passes one batched call.

The GPU fast path (a distilled-step LoRA and its scheduler, FP8 weights, compiled blocks, step
caches, batched CFG) is the models file's choice, option by option: ``fast_path.py``.

wanx2.1-imageedit's functions (``job.function``; None is plain instruction editing): an
instruction-editing pipeline gets the function's instruction before the prompt
(``pipelines.INSTRUCTIONS``); an inpaint pipeline given ``expand`` paints the border of the
padded canvas; ``strength`` goes only to pipelines that take it. Which pipeline serves which
function is the models file's choice, by default ``pipelines.function_pipeline``.

Pictures on the way (``job.partial_images``, text-to-image): the current latents decoded by
the pipeline's VAE after evenly spaced steps, fitted like the image, each handed to
``partial`` (``partials.py``).

Cancellation: ``should_stop`` is asked before the call and after every denoising step; on
stop the step callback raises :class:`Canceled`, so no further step runs and nothing is
decoded (diffusers' ``pipe._interrupt`` would skip the steps but still decode and return
a half-denoised picture).

Errors: a job this pipeline cannot take (too many images, a mask it has no use for) raises
:class:`JobRefused`, answered to the user; missing or broken weights :class:`EngineConfigError`,
logged for the operator.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image

from imagescope.engines.base import (
    Canceled,
    EditJob,
    EngineConfigError,
    ImageJob,
    JobRefused,
    Partial,
    Progress,
    ShouldStop,
)
from imagescope.tasks.spec import NO_EXPANSION, ExpandScales, Function, Strength

try:
    import diffusers  # noqa: F401 - the extra is installed
    import torch
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "imagescope's diffusers engines need the 'diffusers' extra: pip install 'imagescope[diffusers]'"
    ) from exc

from imagescope.engines.diffusers.fast_path import batched_guidance
from imagescope.engines.diffusers.options import DiffusersOptions
from imagescope.engines.diffusers.partials import LatentsHook, partial_hook
from imagescope.engines.diffusers.pipelines import EDIT_PIPELINES, instruction_prompt
from imagescope.engines.diffusers.sizes import fit, pad, round_up, size_step
from imagescope.engines.diffusers.weights import (
    DTYPES,
    check_controlnet,
    check_pipeline_weights,
    check_weights,
    controlnet_dir,
    pipeline_class,
    register_pipeline,
    saved_class,
    shared_pipeline,
)

# The engines, and the weights' functions the models file and the benchmarks reach through here.
__all__ = [
    "DTYPES",
    "Canceled",
    "DiffusersEditEngine",
    "DiffusersOptions",
    "DiffusersTextToImageEngine",
    "EngineConfigError",
    "check_controlnet",
    "check_pipeline_weights",
    "check_weights",
    "controlnet_dir",
    "expand_canvas",
    "pipeline_class",
    "register_pipeline",
    "saved_class",
    "shared_pipeline",
]

# A step callback as diffusers calls it: (pipe, step index, timestep, the tensors it asked for) → tensors to replace.
StepCallback = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]


def _strength(job: EditJob) -> float | None:
    """How much to repaint (img2img / inpaint); None: the engine's default."""
    return job.options.strength if isinstance(job.options, Strength) else None


def expand_canvas(image: Image.Image, left: int, top: int, right: int, bottom: int) -> tuple[Image.Image, Image.Image]:
    """Outpainting input: ``image`` on a canvas grown by the given pixels, and the mask of the border.

    The border repeats the image's edge pixels, a better start than a flat colour when
    ``strength < 1``. Paint it with an inpaint engine:
    ``EditJob(images=(canvas,), mask=mask, width=canvas.width, height=canvas.height, options=Strength(1.0), ...)``.
    """
    pixels = np.asarray(image.convert("RGB"))
    canvas = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), mode="edge")
    mask = np.full(canvas.shape[:2], 255, dtype=np.uint8)
    mask[top : top + image.height, left : left + image.width] = 0
    return Image.fromarray(canvas, "RGB"), Image.fromarray(mask, "L")


class _DiffusersEngine:
    def __init__(self, name: str, options: DiffusersOptions):
        self.name = name
        self.options = options

    def load(self) -> None:
        """Load the weights now rather than on the first call (takes minutes for real weights)."""
        shared_pipeline(self.name, self.options)

    def _run(
        self,
        arguments: Callable[[Any], dict[str, Any]],
        seed: int,
        progress: Progress | None,
        should_stop: ShouldStop | None,
        on_latents: LatentsHook | None = None,
    ) -> tuple[Image.Image, int]:
        """One pipeline call for one picture: (the picture, the pipeline's size step).

        ``arguments(pipe)`` gives the call's job-specific arguments for the loaded pipeline
        (``pipe``: a diffusers pipeline, untyped).
        """
        pipe, lock = shared_pipeline(self.name, self.options)
        with lock:
            if should_stop is not None and should_stop():
                raise Canceled(f"{self.name}: canceled before the first step")
            args = arguments(pipe)
            with batched_guidance(pipe, args, self.options.cfg_batch):
                output = pipe(
                    **args,
                    num_inference_steps=self.options.steps,
                    generator=torch.Generator(pipe.device).manual_seed(seed),
                    output_type="pil",
                    callback_on_step_end=step_callback(
                        self.name, self.options.steps, progress, should_stop, on_latents
                    ),
                )
        images = getattr(output, "images", None)
        if images is None:  # video pipelines (Wan) asked for one frame
            images = output.frames[0]
        return images[0].convert("RGB"), size_step(pipe)


class DiffusersTextToImageEngine(_DiffusersEngine):
    """``generate(job)`` with a diffusers text-to-image pipeline (QwenImagePipeline by default).

    Any text-to-image class diffusers has can be named in ``options.pipeline``; arguments the
    pipeline does not take (``true_cfg_scale``) are left out, and video pipelines (WanPipeline,
    for Wan's text-to-image weights) are asked for one frame.
    """

    def __init__(self, name: str, options: DiffusersOptions):
        if options.pipeline in EDIT_PIPELINES:
            raise EngineConfigError(f"{name}: {options.pipeline} is an edit pipeline: DiffusersEditEngine")
        super().__init__(name, options)

    def generate(
        self,
        job: ImageJob,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
        partial: Partial | None = None,
    ) -> Image.Image:
        def arguments(pipe: Any) -> dict[str, Any]:
            step = size_step(pipe)
            params = inspect.signature(type(pipe).__call__).parameters
            args: dict[str, Any] = {
                "prompt": job.prompt,
                "width": round_up(job.width, step),
                "height": round_up(job.height, step),
                **guidance_arguments(self.options, params, job.negative_prompt),
            }
            if "num_frames" in params:
                args["num_frames"] = 1
            return args

        on_latents = partial_hook(job, partial) if partial is not None and job.partial_images > 0 else None
        image, step = self._run(arguments, job.seed, progress, should_stop, on_latents)
        return fit(image, job.width, job.height, step)


class DiffusersEditEngine(_DiffusersEngine):
    """``edit(job)`` with a Qwen-Image editing pipeline, named in ``options.pipeline``.

    QwenImageEditPipeline (1 image) and QwenImageEditPlusPipeline (1-3 images) take their
    inputs as references; QwenImageImg2ImgPipeline repaints its input by ``strength``;
    QwenImageInpaintPipeline and QwenImageEditInpaintPipeline repaint where the mask is
    white (outpainting: :func:`expand_canvas`); QwenImageControlNetPipeline draws a picture
    of the prompt that follows its input (a sketch, an edge or depth map) through the
    ControlNet in ``options.controlnet``.
    """

    def __init__(self, name: str, options: DiffusersOptions):
        if options.pipeline not in EDIT_PIPELINES:
            raise EngineConfigError(
                f"{name}: {options.pipeline} is not an edit pipeline; one of {', '.join(EDIT_PIPELINES)}"
            )
        super().__init__(name, options)
        self.kind = EDIT_PIPELINES[options.pipeline]

    def edit(
        self,
        job: EditJob,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> Image.Image:
        job = self._prepare(job)
        self._check(job)
        kind = self.kind
        images = [image.convert("RGB") for image in job.images]
        mask = job.mask.convert("L") if job.mask is not None else None
        if kind.canvas:
            # The picture to repaint, at the job's size (aspect kept, centre-cropped).
            images = [fit(images[0], job.width, job.height)]
            mask = fit(mask, job.width, job.height) if mask is not None else None

        def arguments(pipe: Any) -> dict[str, Any]:
            step = size_step(pipe)
            width, height = round_up(job.width, step), round_up(job.height, step)
            params = inspect.signature(type(pipe).__call__).parameters
            guidance = guidance_arguments(self.options, params, job.negative_prompt)
            args: dict[str, Any] = {"prompt": job.prompt, **guidance}
            if kind.sized:
                args.update(width=width, height=height)
            if kind.control:
                args["control_image"] = pad(images[0], width, height, "edge")
                args["controlnet_conditioning_scale"] = self.options.controlnet_conditioning_scale
            elif kind.canvas and kind.sized:
                args["image"] = pad(images[0], width, height, "edge")
                if mask is not None:
                    args["mask_image"] = pad(mask, width, height, 0)
            else:
                args["image"] = images if kind.max_images > 1 else images[0]
                if mask is not None:
                    args["mask_image"] = mask
            if kind.strength:
                args["strength"] = _strength(job) if _strength(job) is not None else self.options.strength
            return args

        image, step = self._run(arguments, job.seed, progress, should_stop)
        return fit(image, job.width, job.height, step)

    def _prepare(self, job: EditJob) -> EditJob:
        """A wanx2.1-imageedit function as a job of this pipeline: the function's instruction
        before the prompt (instruction editing); for ``expand`` on an inpaint pipeline, the
        padded canvas and the mask of its border; ``strength`` only where the pipeline takes
        it (0 is one step: the hosted range includes it)."""
        if job.function is None:
            return job
        changes: dict[str, Any] = {}
        options = job.options
        if not self.kind.canvas:
            changes["prompt"] = instruction_prompt(job.function, job.prompt, job.options)
        if job.function == Function.EXPAND and self.kind.mask and job.mask is None:
            scales = job.options if isinstance(job.options, ExpandScales) else NO_EXPANSION
            changes["images"], changes["mask"] = _expand_to(job.images[0], job.width, job.height, scales)
            options = Strength(1.0)  # the border is painted from noise
        if isinstance(options, Strength):
            if self.kind.strength:
                options = Strength(max(options.strength, 1 / self.options.steps))
            else:  # instruction editing: the model decides how much to change
                options = None
        return replace(job, options=options, **changes)

    def _check(self, job: EditJob) -> None:
        kind, name = self.kind, self.options.pipeline
        if not 1 <= len(job.images) <= kind.max_images:
            wanted = "1 input image" if kind.max_images == 1 else f"1 to {kind.max_images} input images"
            raise JobRefused(f"{name} takes {wanted}, not {len(job.images)}")
        if kind.mask and job.mask is None:
            raise JobRefused(f"{name} needs a mask")
        if not kind.mask and job.mask is not None:
            raise JobRefused(f"{name} takes no mask")
        if (strength := _strength(job)) is not None:
            if not kind.strength:
                raise JobRefused(f"{name} takes no strength")
            if not 0 < strength <= 1:
                raise JobRefused(f"strength must be in (0, 1], not {strength}")


def _expand_to(
    image: Image.Image, width: int, height: int, scales: ExpandScales
) -> tuple[tuple[Image.Image], Image.Image]:
    """``expand``'s canvas of width x height and its border mask: ``image`` grown by its scales."""
    left = round(image.width * (scales.left_scale - 1) / 2)
    top = round(image.height * (scales.top_scale - 1) / 2)
    right, bottom = max(0, width - image.width - left), max(0, height - image.height - top)
    canvas, mask = expand_canvas(image, left, top, right, bottom)
    return (canvas,), mask


# --- the pipeline call --------------------------------------------------------------


def guidance_arguments(
    options: DiffusersOptions, params: Mapping[str, inspect.Parameter], negative_prompt: str
) -> dict[str, Any]:
    """The guidance arguments ``params`` (the pipeline call's parameters) take."""
    args: dict[str, Any] = {}
    if "true_cfg_scale" in params:  # Qwen-Image: true CFG runs when a negative prompt is passed
        args["true_cfg_scale"] = options.true_cfg_scale
        if options.true_cfg_scale > 1:
            args["negative_prompt"] = negative_prompt or " "
    elif negative_prompt and "negative_prompt" in params:
        args["negative_prompt"] = negative_prompt
    if options.guidance_scale is not None:
        args["guidance_scale"] = options.guidance_scale
    return args


def step_callback(
    name: str,
    steps: int,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    on_latents: LatentsHook | None = None,
) -> StepCallback:
    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        total = getattr(pipe, "num_timesteps", None) or steps  # fewer than steps with strength < 1
        if progress is not None:
            progress(step + 1, total)
        if should_stop is not None and should_stop():
            raise Canceled(f"{name}: canceled after step {step + 1} of {total}")
        if on_latents is not None and "latents" in tensors:
            on_latents(pipe, step + 1, total, tensors["latents"])
        return {}

    return on_step_end

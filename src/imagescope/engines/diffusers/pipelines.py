"""Qwen-Image's pipelines and wanx2.1-imageedit's functions: which pipeline serves a function,
what each editing pipeline takes, and what an instruction-editing pipeline is told; and which
video models each Wan video pipeline serves (``VIDEO_PIPELINES``).

Plain data, no torch or diffusers, so the models file can import it on a server without the
diffusers extra.

Which pipeline serves a function (:func:`function_pipeline`), by the weights of the pipeline
an engine runs (``main``):

    function                              Qwen-Image-Edit weights        Qwen-Image weights
    description_edit_with_mask, expand    QwenImageEditInpaintPipeline   QwenImageInpaintPipeline
    doodle, the engine has a ControlNet   (as any other function)        QwenImageControlNetPipeline
    stylization_all, description_edit     QwenImageImg2ImgPipeline       QwenImageImg2ImgPipeline
    any other function                    main; QwenImageEditPipeline    QwenImageImg2ImgPipeline
                                          for an EditInpaint main

A ``main`` on neither kind of weights serves every function itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagescope.tasks.spec import MASK_FUNCTIONS, STRENGTH_FUNCTIONS, Doodle, EditOptions, Function


@dataclass(frozen=True)
class EditKind:
    """What an editing pipeline's call takes."""

    max_images: int
    mask: bool  # takes mask_image
    strength: bool  # takes strength
    canvas: bool  # the input image is the picture to repaint, not a reference
    sized: bool  # honours height/width; else picks ~1 MP at the input's aspect
    control: bool = False  # the input is a ControlNet's control_image, the picture is drawn from noise


EDIT_PIPELINES = {
    "QwenImageEditPipeline": EditKind(1, mask=False, strength=False, canvas=False, sized=True),
    "QwenImageEditPlusPipeline": EditKind(3, mask=False, strength=False, canvas=False, sized=True),
    "QwenImageImg2ImgPipeline": EditKind(1, mask=False, strength=True, canvas=True, sized=True),
    "QwenImageInpaintPipeline": EditKind(1, mask=True, strength=True, canvas=True, sized=True),
    "QwenImageEditInpaintPipeline": EditKind(1, mask=True, strength=True, canvas=True, sized=False),
    "QwenImageControlNetPipeline": EditKind(1, mask=False, strength=False, canvas=True, sized=True, control=True),
}

# The Wan video pipelines and the video models' modes (models.video.VideoMode's values) each
# serves: text-to-video; image-to-video and first-and-last-frame (kf2v: where the weights can end
# on a frame, engines/diffusers/video.py); VACE video editing. WanPipeline also serves
# text-to-image models, asked for one frame.
VIDEO_PIPELINES = {
    "WanPipeline": frozenset({"t2v"}),
    "WanImageToVideoPipeline": frozenset({"i2v", "kf2v"}),
    "WanVACEPipeline": frozenset({"vace"}),
}
VIDEO_ONLY_PIPELINES = frozenset(VIDEO_PIPELINES) - {"WanPipeline"}
VIDEO_MODES = {
    "t2v": "text-to-video",
    "i2v": "image-to-video",
    "kf2v": "first-and-last-frame video",
    "vace": "VACE edits",
}
# A diffusers engine's options a video engine has no use for (Qwen-Image's guidance, editing,
# ControlNet and scheduler): the models file refuses them rather than ignore them.
NOT_VIDEO_OPTIONS = ("true_cfg_scale", "strength", "controlnet", "scheduler_shift", "cfg_batch", "pipelines")

EDIT_WEIGHTS = ("QwenImageEditPipeline", "QwenImageEditPlusPipeline", "QwenImageEditInpaintPipeline")
IMAGE_WEIGHTS = ("QwenImageImg2ImgPipeline", "QwenImageInpaintPipeline", "QwenImageControlNetPipeline")
# Painted by an inpaint pipeline: the user's mask, or (expand) the border of the grown canvas.
INPAINT_FUNCTIONS = MASK_FUNCTIONS | {Function.EXPAND}
CONTROL_FUNCTIONS = frozenset({Function.DOODLE})  # on Qwen-Image weights with a ControlNet: drawn following the input


def function_pipeline(main: str, function: str, controlnet: bool = False) -> str:
    """The pipeline on the weights of an editing engine running ``main`` that serves ``function``;
    ``controlnet``: the engine has a ControlNet."""
    if main not in EDIT_WEIGHTS + IMAGE_WEIGHTS:
        return main
    edit_weights = main in EDIT_WEIGHTS  # Qwen-Image-Edit; else Qwen-Image (img2img, inpaint, ControlNet)
    if function in INPAINT_FUNCTIONS:
        return "QwenImageEditInpaintPipeline" if edit_weights else "QwenImageInpaintPipeline"
    if function in CONTROL_FUNCTIONS and controlnet and not edit_weights:
        return "QwenImageControlNetPipeline"
    if function in STRENGTH_FUNCTIONS or not edit_weights:
        return "QwenImageImg2ImgPipeline"
    return "QwenImageEditPipeline" if main == "QwenImageEditInpaintPipeline" else main


def function_problem(pipeline: str, function: str) -> str:
    """Why ``pipeline`` cannot serve wanx2.1-imageedit's ``function`` ("edit": instruction
    editing); empty when it can."""
    kind = EDIT_PIPELINES.get(pipeline)
    if kind is None:
        return "is not an editing pipeline"
    if function in MASK_FUNCTIONS and not kind.mask:
        return "takes no mask"
    if kind.mask and function not in INPAINT_FUNCTIONS:
        return "needs a mask"
    return ""


# wanx2.1-imageedit's functions through an instruction-editing pipeline (Qwen-Image-Edit): what
# each asks of the model, before the user's prompt. Pipelines that repaint a picture (img2img,
# inpaint) or draw one under a ControlNet get the prompt as it is: it describes the picture
# wanted, not a change.
INSTRUCTIONS = {
    Function.STYLIZATION_ALL: "Restyle the whole image, keeping its composition and content:",
    Function.STYLIZATION_LOCAL: "Restyle only what the instruction names, leaving the rest of the image unchanged:",
    Function.REMOVE_WATERMARK: "Remove all watermarks, logos and overlaid text, restoring the picture behind them.",
    Function.EXPAND: "Extend the picture beyond its borders, continuing the scene naturally.",
    Function.SUPER_RESOLUTION: "Restore this image in fine detail: sharpen it and remove blur, noise and "
    "compression artefacts, changing nothing else.",
    Function.COLORIZATION: "Colorize this black-and-white photo naturally.",
    Function.DOODLE: "Turn this doodle into a finished, detailed picture:",
    Function.CONTROL_CARTOON_FEATURE: "Draw this cartoon character, recognisably the same, in a new picture:",
}
SKETCH_INSTRUCTION = "Turn this line drawing into a finished, detailed picture that keeps its lines:"


def instruction_prompt(function: Function, prompt: str, options: EditOptions | None) -> str:
    """The prompt for a wanx2.1-imageedit ``function`` run through instruction editing; functions
    without an instruction (description_edit: the prompt is one) keep the prompt."""
    if function == Function.DOODLE and isinstance(options, Doodle) and options.is_sketch:
        instruction = SKETCH_INSTRUCTION
    else:
        instruction = INSTRUCTIONS.get(function, "")
    return " ".join(part for part in (instruction, prompt.strip()) if part)

"""Input images of editing tasks: taken in on submission, read back when the task runs,
and the output geometry each function promises.

- ``data:`` URIs and ``oss://`` uploads are checked on submission (400 InvalidParameter at
  once) and kept with the task in storage (purged with it); the task keeps ``stored:{key}``.
  An ``oss://`` key resolves in the uploads' store (the data directory or the bucket), only
  inside the caller's own upload directories (``Uploads.read``).
- ``http(s)`` URLs are fetched when the task runs, as the hosted service does: a URL that
  cannot be fetched fails the task with ``BadRequest.InputDownloadFailed`` (spec 000).
- VACE's input clips (``inputs.video.VIDEO_INPUT_NAMES``) go the same way, checked as MP4s.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from imagescope.errors import Refused, invalid_parameter
from imagescope.inputs import (
    ImageFetcher,
    ImageRules,
    InputDownloadFailed,
    InputImage,
    decode_image,
    read_data_uri,
)
from imagescope.inputs.errors import url_scheme_unsupported
from imagescope.inputs.video import MAX_VIDEO_BYTES, VIDEO_INPUT_NAMES, decode_video
from imagescope.models.catalog import ModelSpec
from imagescope.storage.base import Storage
from imagescope.storage.uploads import Uploads
from imagescope.tasks.spec import STORED, ExpandScales, GenerationRequest, OutputArea, Upscale

MAX_OUTPUT_SIDE = 8192  # super_resolution and expand: a larger result is refused (our limit)


def oss_header_missing() -> Refused:
    return invalid_parameter("oss:// urls need the header X-DashScope-OssResourceResolve: enable")


@dataclass
class EditInputs:
    storage: Storage
    uploads: Uploads
    fetcher: ImageFetcher

    def take(
        self, task_id: str, name: str, reference: str, rules: ImageRules, account_id: int, oss_enabled: bool
    ) -> str:
        """Check an input now when its bytes are here; returns the reference the task keeps."""
        scheme = reference.partition(":")[0].lower()
        if scheme in ("http", "https"):
            return reference
        video = name in VIDEO_INPUT_NAMES
        if scheme == "data":
            data = read_data_uri(reference, MAX_VIDEO_BYTES if video else rules.max_bytes)
        elif scheme == "oss":
            if not oss_enabled:
                raise oss_header_missing()
            data = self._upload(reference, account_id)
        else:
            raise url_scheme_unsupported(scheme)  # file:// is the SDK's to upload; others unknown
        if video:
            decode_video(data, name, check_only=True)  # an MP4 of at most 50 MB and 5 s
        else:
            decode_image(data, rules)  # format, bytes, dimensions, bombs, corruption
        key = f"{task_id}/inputs/{name.replace('[', '').replace(']', '')}"
        self.storage.save(key, data)  # StorageUnavailable: the submission answers 503
        return STORED + key

    def _upload(self, reference: str, account_id: int) -> bytes:
        data = self.uploads.read(reference, account_id)
        if data is None:
            raise InputDownloadFailed(f"{reference}: not an upload of this account")
        return data

    def load(self, reference: str, rules: ImageRules, mode: str = "RGB") -> InputImage:
        """The image behind a kept reference (downloads http(s) now)."""
        if reference.startswith(STORED):
            data = self.storage.read(reference.removeprefix(STORED))  # StorageUnavailable: not the task's fault
            if data is None:
                raise invalid_parameter("The input image is no longer stored.")
            return decode_image(data, rules, mode)
        return self.fetcher.fetch(reference, rules, mode=mode)

    def load_video(self, reference: str, name: str, mode: str = "RGB") -> list[Image.Image]:
        """The frames of a kept input clip (downloads http(s) now)."""
        if reference.startswith(STORED):
            data = self.storage.read(reference.removeprefix(STORED))
            if data is None:
                raise invalid_parameter("The input video is no longer stored.")
        else:
            data = self.fetcher.fetch_bytes(reference, MAX_VIDEO_BYTES)
        return decode_video(data, name, mode)


def output_size(req: GenerationRequest, base: Image.Image) -> tuple[int, int]:
    """The size of each output image of an editing request, given its (first) input image."""
    if req.size is not None:  # the request named it (a size parameter)
        return req.size
    w, h = base.size
    match req.options:
        case ExpandScales() as o:
            # Scales grow the image about its centre: all four at 1.5 → 1.5 times each side (spec 003).
            size = round(w * (o.left_scale + o.right_scale) / 2), round(h * (o.top_scale + o.bottom_scale) / 2)
        case Upscale(upscale_factor=factor):
            size = w * factor, h * factor
        case OutputArea(area=area):  # messages-protocol editing: 1K/2K, or no size
            return proportional_size(w, h, area)
        case _:
            return w, h
    if max(size) > MAX_OUTPUT_SIDE:
        raise invalid_parameter(
            f"The output of {req.function} would be {size[0]}*{size[1]}; each side must stay within {MAX_OUTPUT_SIDE}."
        )
    return size


def proportional_size(width: int, height: int, area: int, step: int = 16, max_ratio: int = 4) -> tuple[int, int]:
    """About ``area`` pixels in the proportions of ``width``:``height`` (clamped to 1:4–4:1),
    each side a multiple of ``step``."""
    ratio = min(max(width / height, 1 / max_ratio), max_ratio)
    w = round((area * ratio) ** 0.5 / step) * step
    h = round((area / ratio) ** 0.5 / step) * step
    return w, h


def load_inputs(
    inputs: EditInputs, req: GenerationRequest, spec: ModelSpec
) -> tuple[list[Image.Image], Image.Image | None]:
    """The request's input images and mask, decoded; the mask must match the base image's size."""
    rules = spec.image_rules
    images = [inputs.load(ref, rules).image for ref in req.images]
    mask = None
    if req.mask:
        mask = inputs.load(req.mask, rules, mode="L").image
        if mask.size != images[0].size:
            raise invalid_parameter(
                f"mask_image_url must be the same size as base_image_url: mask {mask.size[0]}*{mask.size[1]}, "
                f"image {images[0].size[0]}*{images[0].size[1]}"
            )
    return images, mask

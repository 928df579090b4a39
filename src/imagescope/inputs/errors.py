"""The errors an input image can fail with, as the hosted service reports them.

A URL that cannot be fetched is ``BadRequest.InputDownloadFailed`` (spec 000, "API errors");
content that is fetched but is not an acceptable image is ``InvalidParameter``.
"""

from __future__ import annotations

from imagescope.errors import Refused, invalid_parameter

DOWNLOAD_FAILED_CODE = "BadRequest.InputDownloadFailed"
DOWNLOAD_FAILED_MESSAGE = "Reference image download failed, please check image url."
DOWNLOAD_TIMED_OUT_MESSAGE = "Download the media resource timed out during the data inspection process"
URL_FORMS = "an http(s) URL, a data:{mime_type};base64,{base64_data} URI or an oss:// URL"


class InputDownloadFailed(Refused):
    """The client sees the documented message; ``reason`` (and ``str()``) says what happened,
    for logs — never tell a caller which internal addresses exist."""

    def __init__(self, reason: str, *, timed_out: bool = False):
        message = DOWNLOAD_TIMED_OUT_MESSAGE if timed_out else DOWNLOAD_FAILED_MESSAGE
        super().__init__(DOWNLOAD_FAILED_CODE, message)
        self.args = (f"{self.args[0]} ({reason})",)
        self.reason = reason
        self.timed_out = timed_out


def url_missing() -> Refused:
    return invalid_parameter(f"The image url is empty: pass {URL_FORMS}.")


def url_scheme_unsupported(scheme: str) -> Refused:
    if scheme == "file":
        return invalid_parameter(
            f"file:// urls are read by the SDK on the client and are not accepted by the service: pass {URL_FORMS}."
        )
    return invalid_parameter(f"Unsupported image url scheme '{scheme}': pass {URL_FORMS}.")


def data_uri_malformed() -> Refused:
    return invalid_parameter("The image data URI must have the form data:{mime_type};base64,{base64_data}.")


def data_uri_not_base64() -> Refused:
    return invalid_parameter("The image data URI does not hold valid base64 data.")


def image_too_large(size: int | None, limit: int) -> Refused:
    got = "" if size is None else f" ({size} bytes)"
    return invalid_parameter(f"The image file is larger than {_megabytes(limit)}{got}.")


def not_an_image(formats: tuple[str, ...]) -> Refused:
    return invalid_parameter(f"The input file is not a supported image; supported formats: {', '.join(formats)}.")


def format_unsupported(fmt: str, formats: tuple[str, ...]) -> Refused:
    return invalid_parameter(
        f"Image format {fmt} is not supported by this model; supported formats: {', '.join(formats)}."
    )


def image_side_out_of_range(width: int, height: int, min_side: int, max_side: int) -> Refused:
    return invalid_parameter(
        f"Image size {width}*{height} is not supported: width and height must be between "
        f"{min_side} and {max_side} pixels."
    )


def image_too_many_pixels(width: int | None, height: int | None, max_pixels: int) -> Refused:
    size = f"Image size {width}*{height}" if width and height else "The image"
    return invalid_parameter(f"{size} has more than the maximum of {max_pixels} pixels.")


def image_corrupt() -> Refused:
    return invalid_parameter("The image file is truncated or corrupt and cannot be decoded.")


def _megabytes(limit: int) -> str:
    mb = limit / (1024 * 1024)
    return f"{mb:g} MB" if mb >= 1 else f"{limit} bytes"

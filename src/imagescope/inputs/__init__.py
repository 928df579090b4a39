"""Input images: a URL given in a request, turned into checked bytes and a decoded image.

fetcher = ImageFetcher(resolve_oss=uploads.resolve)
rules = ImageRules(min_side=384, max_side=3072)
source = fetcher.fetch("https://example.com/cat.png", rules)  # InputImage
mask = fetcher.fetch(mask_url, rules, mode="L")
"""

from imagescope.inputs.addresses import HostAllowlist, is_public_address, system_resolve
from imagescope.inputs.decode import FORMATS, ImageRules, InputImage, decode_image, sniff_format
from imagescope.inputs.errors import DOWNLOAD_FAILED_CODE, DOWNLOAD_FAILED_MESSAGE, InputDownloadFailed
from imagescope.inputs.fetch import ImageFetcher, ResolveOss, read_data_uri

__all__ = [
    "DOWNLOAD_FAILED_CODE",
    "DOWNLOAD_FAILED_MESSAGE",
    "FORMATS",
    "HostAllowlist",
    "ImageFetcher",
    "ImageRules",
    "InputDownloadFailed",
    "InputImage",
    "ResolveOss",
    "decode_image",
    "is_public_address",
    "read_data_uri",
    "sniff_format",
    "system_resolve",
]

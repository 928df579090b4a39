"""``ImageFetcher``: an input image URL from a request, to checked bytes and a decoded image.

Accepted: ``http(s)://`` (downloaded, see ``download.py``), ``data:{mime};base64,{data}`` and
``oss://`` keys of the upload store (resolved by the caller's ``resolve_oss``). ``file://`` is
the SDK's business on the client side; any other scheme is refused.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path

from imagescope.errors import ServiceError
from imagescope.inputs import errors
from imagescope.inputs.addresses import HostAllowlist, Resolver, system_resolve
from imagescope.inputs.decode import ImageRules, InputImage, decode_image
from imagescope.inputs.download import Downloader
from imagescope.inputs.errors import InputDownloadFailed

# oss://key -> its bytes, or the path of the stored file; None (or LookupError) when unknown.
ResolveOss = Callable[[str], "bytes | Path | None"]


class ImageFetcher:
    """Thread-safe: keeps no per-request state.

    ``allow_private``: no address guard at all (trusted deployments). ``allow_hosts``: exact
    ``host:port`` pairs exempt from the guard; every other hop, redirects included, is checked.
    ``total_timeout`` bounds a whole download, redirects included. ``resolve`` and
    ``ssl_context`` replace the system resolver and CA bundle (tests).
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        allow_hosts: Iterable[str] = (),
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_redirects: int = 3,
        resolve_oss: ResolveOss | None = None,
        resolve: Resolver = system_resolve,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.resolve_oss = resolve_oss
        self.downloader = Downloader(
            allow_private=allow_private,
            allow_hosts=HostAllowlist(allow_hosts),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            total_timeout=total_timeout,
            max_redirects=max_redirects,
            resolve=resolve,
            ssl_context=ssl_context,
        )

    def fetch(self, url: str, rules: ImageRules, *, mode: str = "RGB") -> InputImage:
        """``mode``: "RGB", "RGBA" or "L" (masks)."""
        return decode_image(self.fetch_bytes(url, rules.max_bytes), rules, mode)

    def fetch_bytes(self, url: str, max_bytes: int) -> bytes:
        if not isinstance(url, str) or not url.strip():
            raise errors.url_missing()
        url = url.strip()
        scheme, colon, _ = url.partition(":")
        scheme = scheme.lower() if colon else ""
        if scheme in ("http", "https"):
            return self.downloader.get(url, max_bytes)
        if scheme == "data":
            return read_data_uri(url, max_bytes)
        if scheme == "oss":
            return self._read_oss(url, max_bytes)
        raise errors.url_scheme_unsupported(scheme)

    def _read_oss(self, url: str, max_bytes: int) -> bytes:
        if self.resolve_oss is None:
            raise InputDownloadFailed(f"{url}: no upload store to resolve oss:// urls")
        try:
            found = self.resolve_oss(url)
            if found is None:
                raise LookupError("no such key")
            if isinstance(found, (bytes, bytearray, memoryview)):
                data = bytes(found)
            else:
                size = Path(found).stat().st_size
                if size > max_bytes:
                    raise errors.image_too_large(size, max_bytes)
                data = Path(found).read_bytes()
        except ServiceError:
            raise
        except (LookupError, OSError, ValueError) as exc:
            raise InputDownloadFailed(f"{url}: {exc!r}") from None
        if len(data) > max_bytes:
            raise errors.image_too_large(len(data), max_bytes)
        return data


def read_data_uri(url: str, max_bytes: int) -> bytes:
    """``data:{mime_type};base64,{data}``. The MIME type is not trusted: the format is sniffed."""
    header, comma, payload = url.partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise errors.data_uri_malformed()
    payload = "".join(payload.split())  # some encoders wrap lines
    # Refuse before decoding: 4 characters of base64 carry 3 bytes.
    if len(payload) // 4 * 3 > max_bytes + 3:
        raise errors.image_too_large(None, max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise errors.data_uri_not_base64() from None
    if not data:
        raise errors.data_uri_not_base64()
    if len(data) > max_bytes:
        raise errors.image_too_large(len(data), max_bytes)
    return data

"""Result storage: PNG files under the data directory, reached through signed, expiring URLs.

A URL looks like ``{base}/files/{key}?Expires={unix}&Signature={hmac}``, the way OSS
links of the hosted service carry ``Expires``; the signature covers the key and expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import time
from pathlib import Path
from urllib.parse import quote


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def save(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see half a file

    def open_path(self, key: str) -> Path | None:
        try:
            path = self._path(key)
        except ValueError:
            return None
        return path if path.is_file() else None

    def delete_task(self, task_id: str) -> None:
        shutil.rmtree(self._path(task_id), ignore_errors=True)


class UrlSigner:
    def __init__(self, secret: bytes):
        self.secret = secret

    def _signature(self, key: str, expires: int) -> str:
        mac = hmac.new(self.secret, f"{key}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def url(self, base: str, key: str, expires: int) -> str:
        sig = self._signature(key, expires)
        return f"{base.rstrip('/')}/files/{quote(key)}?Expires={expires}&Signature={sig}"

    def verify(self, key: str, expires: str | None, signature: str | None) -> bool:
        if not expires or not signature or not expires.isdigit():
            return False
        if int(expires) < time.time():
            return False
        return hmac.compare_digest(self._signature(key, int(expires)), signature)

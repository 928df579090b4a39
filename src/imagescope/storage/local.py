"""Result storage: PNG files under the data directory, reached through signed, expiring URLs.

A URL looks like ``{base}/files/{key}?Expires={unix}&Signature={hmac}``, the way OSS
links of the hosted service carry ``Expires``; the signature covers the key and expiry.

A write or read that fails for the file system's reasons (permissions, a full or read-only
disk) raises ``StorageUnavailable``: the service's trouble, which a task waits out in the
queue and a submission answers with 503, never the request's fault.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import os
import shutil
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote


class StorageUnavailable(Exception):
    """Storage cannot be written or read now; the message is for logs, never for clients."""


# Errors that say the key is bad (too long, a file where a directory should be), not the
# storage: raised as they are, never waited out.
KEY_ERRORS = frozenset({errno.ENAMETOOLONG, errno.EINVAL, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.EILSEQ})


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # Temporary files a failed save could not remove (its directory had turned read-only):
        # removed by the next save or probe that succeeds, so none outlive the fault.
        self._stranded: set[Path] = set()
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def save(self, key: str, data: bytes) -> None:
        path = self._path(key)
        # A name of its own (two writers of one key never share one) and no longer than any key's.
        tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)  # readers never see half a file
        except OSError as exc:
            self._remove(tmp)
            if exc.errno in KEY_ERRORS:
                raise
            raise StorageUnavailable(f"cannot write {key}: {exc}") from exc
        self._remove_stranded()

    def read(self, key: str) -> bytes | None:
        """The bytes stored under ``key``; None if there are none."""
        path = self.open_path(key)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:  # purged between the look and the read
            return None
        except OSError as exc:
            if exc.errno in KEY_ERRORS:
                raise
            raise StorageUnavailable(f"cannot read {key}: {exc}") from exc

    def probe(self) -> None:
        """Write and remove a small file under the root; raises StorageUnavailable while that fails."""
        path = self.root / f".probe-{os.getpid()}-{threading.get_ident()}.tmp"
        try:
            path.write_bytes(b"probe")
        except OSError as exc:
            self._remove(path)
            raise StorageUnavailable(f"cannot write under {self.root}: {exc}") from exc
        self._remove(path)
        self._remove_stranded()

    def open_path(self, key: str) -> Path | None:
        try:
            path = self._path(key)
            return path if path.is_file() else None
        except (ValueError, OSError):  # escapes the root, NUL, a name too long: no such file
            return None

    def exists(self, key: str) -> bool:
        return self.open_path(key) is not None

    def presigned_url(self, key: str, expires: int) -> str | None:
        return None  # the API serves these files, at its signed /files URLs

    def delete_task(self, task_id: str) -> None:
        shutil.rmtree(self._path(task_id), ignore_errors=True)

    def delete_older(self, prefix: str, older_than: float) -> int:
        """Remove the files under ``prefix`` last written before ``older_than`` (Unix seconds)."""
        return _remove_older(self._path(prefix), "*", older_than)

    def discard_outputs(self, task_id: str, keep: str = "inputs") -> None:
        """Remove what a run of the task wrote, except its kept ``inputs/``: it will run again.
        As much as can be removed now; what cannot is overwritten by that run or purged."""
        try:
            entries = list(self._path(task_id).iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name == keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with suppress(OSError):
                    entry.unlink()

    def sweep_temporary(self, older_than: float) -> int:
        """Remove ``*.tmp`` files last written before ``older_than`` (Unix seconds): those of a
        process that stopped between writing and renaming. Returns how many."""
        return _remove_older(self.root, "*.tmp", older_than)

    def _remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            with self._lock:
                self._stranded.add(path)

    def _remove_stranded(self) -> None:
        if not self._stranded:  # the usual case: no lock taken
            return
        with self._lock:
            stranded, self._stranded = self._stranded, set()
        for path in stranded:
            self._remove(path)


def _remove_older(top: Path, pattern: str, older_than: float) -> int:
    """Remove the files under ``top`` matching ``pattern`` last written before ``older_than``
    (Unix seconds), as many as can be; returns how many."""
    removed = 0
    for path in top.rglob(pattern):
        with suppress(OSError):
            if path.is_file() and path.stat().st_mtime < older_than:
                path.unlink()
                removed += 1
    return removed


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
        # ASCII only: int() refuses "²" and 5,000-digit numbers, compare_digest non-ASCII text.
        if not expires or not signature or not signature.isascii():
            return False
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            return False
        if int(expires) < time.time():
            return False
        return hmac.compare_digest(self._signature(key, int(expires)), signature)

"""The SDK's local-file path: ``file://`` inputs are uploaded here, then referenced as ``oss://``.

1. ``GET /api/v1/uploads?action=getPolicy&model=…`` hands the SDK a policy: an upload
   directory of the caller's own, an expiry and a size cap, signed with this server's key.
2. The SDK POSTs the file as a multipart form to ``upload_host`` (``/uploads/oss`` here),
   with the policy, its signature and ``key = upload_dir/filename``; we check all three.
3. Requests name ``oss://{key}`` with ``X-DashScope-OssResourceResolve: enable``; the key
   resolves to the stored file when it lies in an upload directory of the caller's account.

The upload host is this API on either storage backend: the SDK's form carries OSS's fields
(``OSSAccessKeyId``, ``Signature``, ``x-oss-*``) and none of the ``x-amz-*`` ones an S3 POST
policy needs, so an S3-compatible store would refuse it; the API checks the policy and puts
the bytes into the store (the bucket, or the data directory), keeping nothing of its own.

Every key read here (the upload's, an ``oss://`` input's) is confined the same way: made of
plain names only (``plain_key``), then compared with the caller's prefix. ``imagescope/1/../2/…``
starts with account 1's prefix but names account 2's file, hence the first step.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

from imagescope.errors import Conflict, Forbidden, Refused
from imagescope.storage.base import Storage

POLICY_TTL_S = 300
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # inputs are capped at 10 MB anyway (spec 000)
UPLOAD_TTL_S = 48 * 3600  # what the hosted service keeps uploads for
ACCESS_KEY_ID = "imagescope"


UPLOADS_ROOT = "imagescope"
MAX_NAME_BYTES = 255  # one path segment on every common file system


def upload_refused(message: str) -> Forbidden:
    return Forbidden("AccessDenied", message)


def invalid_object_name() -> Refused:
    return Refused("InvalidObjectName", "The specified object is not valid.")


def account_prefix(account_id: int) -> str:
    return f"{UPLOADS_ROOT}/{account_id}/"


def plain_name(segment: str) -> bool:
    """One path segment that names a file and nothing else: not empty, ``.`` or ``..``; no
    slash, backslash, NUL or other control character; valid UTF-8 of at most 255 bytes. Its
    percent-decoded forms must pass too (``%2e%2e``, ``%2f``, ``%5c``, ``%00``, twice encoded)."""
    for _ in range(3):
        if segment in ("", ".", "..") or any(c in "/\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in segment):
            return False
        try:
            if len(segment.encode()) > MAX_NAME_BYTES:
                return False
        except UnicodeEncodeError:  # a lone surrogate
            return False
        decoded = unquote(segment)
        if decoded == segment:
            return True
        segment = decoded
    return False  # still encoded after three rounds: no honest name looks like that


def plain_key(key: str) -> bool:
    """A storage key of plain names joined by single slashes: nothing in it can climb out."""
    return all(plain_name(segment) for segment in key.split("/"))


@dataclass(frozen=True)
class Policy:
    upload_dir: str
    expires: float
    max_bytes: int


class Uploads:
    def __init__(self, storage: Storage, secret: bytes):
        self.storage = storage
        self.secret = secret

    def _sign(self, policy: str) -> str:
        return base64.b64encode(hmac.new(self.secret, policy.encode(), hashlib.sha256).digest()).decode()

    def policy_for(self, account_id: int, upload_host: str) -> dict[str, str | int]:
        """The ``output`` of getPolicy, shaped as the SDK reads it."""
        upload_dir = account_prefix(account_id) + uuid.uuid4().hex
        document = {
            "expiration": time.time() + POLICY_TTL_S,
            "conditions": [["content-length-range", 0, MAX_UPLOAD_BYTES], ["starts-with", "$key", upload_dir + "/"]],
        }
        policy = base64.b64encode(json.dumps(document).encode()).decode()
        return {
            "policy": policy,
            "signature": self._sign(policy),
            "upload_dir": upload_dir,
            "upload_host": upload_host,
            "expire_in_seconds": POLICY_TTL_S,
            "max_file_size_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
            "capacity_limit_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
            "oss_access_key_id": ACCESS_KEY_ID,
            "x_oss_object_acl": "private",
            "x_oss_forbid_overwrite": "true",
        }

    def check(self, policy: str, signature: str, key: str) -> Policy:
        """The policy, if it is ours, unexpired, and ``key`` lies directly in its directory."""
        signed = policy.isascii() and signature.isascii()  # base64 both; compare_digest wants ASCII
        if not policy or not signature or not signed or not hmac.compare_digest(self._sign(policy), signature):
            raise upload_refused("The request signature we calculated does not match the signature you provided.")
        document = json.loads(base64.b64decode(policy))
        if document["expiration"] < time.time():
            raise upload_refused("Invalid according to Policy: Policy expired.")
        conditions = {c[0]: c[1:] for c in document["conditions"]}
        prefix = conditions["starts-with"][1]
        name = key[len(prefix) :] if key.startswith(prefix) else ""
        if not name or "/" in name or "\\" in name:
            raise upload_refused('Invalid according to Policy: Policy Condition failed: ["starts-with", "$key"]')
        if not plain_name(name):
            raise invalid_object_name()
        return Policy(prefix.rstrip("/"), document["expiration"], conditions["content-length-range"][1])

    def save(self, key: str, data: bytes) -> None:
        if self.storage.exists(key):
            raise Conflict("FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
        self.storage.save(key, data)

    def read(self, oss_url: str, account_id: int) -> bytes | None:
        """The bytes of ``oss://{key}`` if the caller's account uploaded them, else None."""
        key = oss_url.removeprefix("oss://")
        if not plain_key(key) or not key.startswith(account_prefix(account_id)):
            return None
        return self.storage.read(key)

    def purge(self, older_than: float) -> int:
        """Delete uploads older than ``older_than`` (Unix seconds); returns how many."""
        return self.storage.delete_older(UPLOADS_ROOT + "/", older_than)

"""Keep it from coming back: a seeded, bounded mutation fuzzer over every route.

Each route family starts from valid requests (the bodies, queries and forms the other tests
use) and sends a few hundred mutants of them: a value replaced by every JSON type (null, bools,
ints up to 10**30 and 2**63, floats, NaN/Infinity literals, strings, lists, objects), deep
nesting (1000–5000 levels) at the root and inside a field, lone surrogates (the JSON escape
``\\ud800``, sent as raw bytes so it reaches the server), Unicode digits (``²``, ``١``, ``１``)
in numeric fields and query parameters, 100 KB strings, missing and unknown fields, the wrong
Content-Type, invalid UTF-8, empty and truncated bodies, and the X-DashScope-* headers dropped
or added. The rule checked is the service's own: never a 5xx (nor an ``event:error`` with a 5xx
status in a stream, nor no answer at all), and every error answer is a JSON object with string
``code``, ``message`` and ``request_id``. At the end a valid request still succeeds.

The generator is ``random.Random`` with a fixed seed per family, so a failure replays exactly;
``IMAGESCOPE_FUZZ_SCALE`` (default 1) multiplies the number of requests. A failure lists the
first offending requests (route, mutation, status, body) and the exception lines the server
logged for them.

The server runs wanx2.1-imageedit's ``super_resolution`` on the preview engine (a models file):
the request handling is the same, and Real-ESRGAN on the CPU would take a minute per accepted
mutant.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from PIL import Image

from conftest import Server

SEED = 20261122
SCALE = float(os.environ.get("IMAGESCOPE_FUZZ_SCALE", "1"))
ADMIN = "fuzz-admin-token"
TIMEOUT = 60  # seconds for one answer: far more than any should take

T2I = "/api/v1/services/aigc/text2image/image-synthesis"
I2I = "/api/v1/services/aigc/image2image/image-synthesis"
MM_SYNC = "/api/v1/services/aigc/multimodal-generation/generation"
MM_ASYNC = "/api/v1/services/aigc/image-generation/generation"
FUNCTIONS = (
    "stylization_all",
    "stylization_local",
    "description_edit",
    "description_edit_with_mask",
    "remove_watermark",
    "expand",
    "super_resolution",
    "colorization",
    "doodle",
    "control_cartoon_feature",
)


# --- inputs --------------------------------------------------------------------------------


def _png_uri(mode: str = "RGB", size=(512, 512)) -> str:
    image = Image.linear_gradient("L").resize(size)
    if mode == "RGB":
        image = Image.merge("RGB", (image, image.transpose(Image.Transpose.ROTATE_90), image))
    else:  # a mask: white square in the middle
        image = Image.new("L", size, 0)
        image.paste(255, (size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


BASE = _png_uri()
MASK = _png_uri("L")
PNG_BYTES = base64.b64decode(BASE.split(",", 1)[1])


# --- JSON with raw fragments ---------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON fragment sent verbatim (NaN, 1e999, 5000 levels of nesting json.dumps refuses)."""

    text: str


def deep(levels: int, kind: str) -> Raw:
    if kind == "list":
        return Raw("[" * levels + "]" * levels)
    return Raw('{"a":' * levels + "0" + "}" * levels)


def encode(body: Any, ascii_only: bool = True) -> bytes:
    """JSON bytes of a body holding Raw fragments; strings with lone surrogates go out as
    ``\\ud800`` escapes (ascii_only) — the bytes a client library would send."""
    raws: dict[str, str] = {}

    def swap(value):
        if isinstance(value, Raw):
            marker = f"__raw_{len(raws)}_{uuid.uuid4().hex}__"
            raws[marker] = value.text
            return marker
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    try:
        text = json.dumps(swap(body), ensure_ascii=ascii_only)
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8: escape it
        text = json.dumps(swap(body), ensure_ascii=True)
    for marker, fragment in raws.items():
        text = text.replace(json.dumps(marker), fragment)
    return text.encode("utf-8")


def short(value: Any, limit: int = 60) -> str:
    if isinstance(value, Raw):
        text = value.text
        return f"raw {text[:20]}…({len(text)} chars)" if len(text) > limit else f"raw {text}"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit // 2]}…({len(text)} chars)"


UNICODE_DIGITS = ["²", "³", "¹", "١", "٣", "۵", "१", "１", "９", "𝟙", "⑤", "Ⅻ", "〇"]


def value_pool(rng: random.Random) -> list[tuple[str, Any]]:
    """Every JSON type and the edges of each."""
    levels = rng.choice([1000, 2000, 3000, 5000])
    return [
        ("null", None),
        ("true", True),
        ("false", False),
        ("0", 0),
        ("-1", -1),
        ("1", 1),
        ("10**30", 10**30),
        ("2**63", 2**63),
        ("2**63-1", 2**63 - 1),
        ("-2**63-1", -(2**63) - 1),
        ("2**64", 2**64),
        ("-10**30", -(10**30)),
        ("1.5", 1.5),
        ("-0.0", -0.0),
        ("1e308", 1e308),
        ("0.1", 0.1),
        ("2.0", 2.0),
        ("NaN literal", Raw("NaN")),
        ("Infinity literal", Raw("Infinity")),
        ("-Infinity literal", Raw("-Infinity")),
        ("1e999", Raw("1e999")),
        ("-1e999", Raw("-1e999")),
        ("5000-digit int", Raw("9" * 5000)),
        ("'NaN'", "NaN"),
        ("'nan'", "nan"),
        ("'inf'", "inf"),
        ("'-Infinity'", "-Infinity"),
        ("'1e999'", "1e999"),
        ("''", ""),
        ("' '", " "),
        ("'x'", "x"),
        ("'0'", "0"),
        ("'1'", "1"),
        ("'true'", "true"),
        ("'null'", "null"),
        ("unicode digit", rng.choice(UNICODE_DIGITS)),
        ("unicode digits", "".join(rng.choices(UNICODE_DIGITS, k=4))),
        ("lone surrogate", "\ud800"),
        ("lone low surrogate", "a\udfffb"),
        ("surrogate pair", "\ud83d\ude00"),
        ("NUL", "a\x00b"),
        ("control chars", "\x01\x1b[31m\x7f"),
        ("RTL + zero width", "\u202e\u200b\ufeff"),
        ("100 KB ascii", "x" * 100_000),
        ("100 KB CJK", "猫" * 34_000),
        ("10 KB newlines", "\n" * 10_000),
        ("path traversal", "../../../../etc/passwd"),
        ("percent", "%00%ff%2e%2e"),
        ("format", "%s%n{0}{x}"),
        ("[]", []),
        ("[1, 'a']", [1, "a"]),
        ("[null]", [None]),
        ("{}", {}),
        ("{'a': {}}", {"a": {}}),
        ("10000-item list", list(range(10_000))),
        ("1000-key object", {f"k{i}": i for i in range(1000)}),
        (f"{levels}-deep list", deep(levels, "list")),
        (f"{levels}-deep object", deep(levels, "object")),
        ("100-deep list", deep(100, "list")),
    ]


def mutate_string(s: str, rng: random.Random) -> tuple[str, str]:
    choices = [
        ("digits → unicode digits", lambda: re.sub(r"\d", lambda m: rng.choice(UNICODE_DIGITS), s) or "²"),
        ("× 5000", lambda: s * 5000 if s else "y" * 100_000),
        ("+ lone surrogate", lambda: s + "\udc80"),
        ("+ NUL", lambda: s + "\x00"),
        ("upper", lambda: s.upper()),
        ("padded", lambda: f"  {s}\t"),
        ("half", lambda: s[: len(s) // 2]),
        ("'*' → 'x'", lambda: s.replace("*", "x")),
        ("'*' doubled", lambda: s.replace("*", "**")),
        ("negative sides", lambda: "-" + s.replace("*", "*-")),
        ("huge sides", lambda: re.sub(r"\d+", "9" * 30, s) if re.search(r"\d", s) else s + "9" * 30),
        ("float sides", lambda: re.sub(r"(\d+)", r"\1.5", s) if re.search(r"\d", s) else s + ".5"),
        ("exponent", lambda: re.sub(r"\d+", "1e3", s) if re.search(r"\d", s) else "1e3"),
        ("fullwidth", lambda: s.translate({i: i + 0xFEE0 for i in range(0x21, 0x7F)})),
    ]
    name, make = rng.choice(choices)
    return name, make()


def mutate_number(v: float, rng: random.Random) -> tuple[str, Any]:
    choices = [
        ("+1", v + 1),
        ("-1", v - 1),
        ("negated", -v),
        ("as string", str(v)),
        ("× 10**20", v * 10**20),
        ("as float", float(v) + 0.5),
        ("2**63", 2**63),
        ("10**30", 10**30),
        ("-2**63-1", -(2**63) - 1),
        ("2**31", 2**31),
        ("0", 0),
    ]
    return rng.choice(choices)


# --- mutation of a JSON body ---------------------------------------------------------------


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every position in a JSON tree (as key/index paths), containers included."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield prefix + (k,)
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield prefix + (i,)
            yield from paths(v, prefix + (i,))


def containers(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        yield prefix
        for k, v in value.items():
            yield from containers(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from containers(v, prefix + (i,))


def get(tree: Any, path: tuple) -> Any:
    for step in path:
        tree = tree[step]
    return tree


def dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "<root>"


def copy(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: copy(v) for k, v in body.items()}
    if isinstance(body, list):
        return [copy(v) for v in body]
    return body


def mutate_tree(body: dict, rng: random.Random) -> tuple[Any, str]:
    """One structural or value mutation of a (copied) body."""
    body = copy(body)
    every = list(paths(body))
    op = rng.choices(["replace", "delete", "add", "wrap", "tweak"], weights=[8, 3, 2, 1, 4])[0]
    if op == "add" or not every:
        where = rng.choice(list(containers(body)))
        name = rng.choice(["extra", "__proto__", "model", "stream", "n", "x" * 300, "", "\ud800", "猫"])
        label, value = rng.choice(value_pool(rng))
        get(body, where)[name] = value
        return body, f"add {dotted(where + (name,))[:40]} = {label}"
    path = rng.choice(every)
    parent, key = get(body, path[:-1]), path[-1]
    if op == "delete":
        del parent[key]
        return body, f"delete {dotted(path)}"
    if op == "wrap":
        parent[key] = rng.choice([[parent[key]], {"value": parent[key]}])
        return body, f"wrap {dotted(path)} in {type(parent[key]).__name__}"
    current = parent[key]
    if op == "tweak" and isinstance(current, str):
        label, parent[key] = mutate_string(current, rng)
        return body, f"{dotted(path)}: string {label}"
    if op == "tweak" and isinstance(current, (int, float)) and not isinstance(current, bool):
        label, parent[key] = mutate_number(current, rng)
        return body, f"{dotted(path)}: number {label}"
    label, parent[key] = rng.choice(value_pool(rng))
    return body, f"replace {dotted(path)} with {label}"


def whole_body(body: dict, rng: random.Random) -> tuple[bytes, str]:
    """A mutation of the bytes: nesting at the root, other roots, broken encodings."""
    raw = encode(body)
    levels = rng.choice([1000, 2500, 5000])
    choices = [
        ("empty body", lambda: b""),
        ("whitespace body", lambda: b" \n\t "),
        (f"{levels}-deep list root", lambda: deep(levels, "list").text.encode()),
        (f"{levels}-deep object root", lambda: deep(levels, "object").text.encode()),
        ("list root", lambda: b"[" + raw + b"]"),
        ("string root", lambda: json.dumps(raw.decode()).encode()),
        ("number root", lambda: b"12345678901234567890"),
        ("null root", lambda: b"null"),
        ("NaN root", lambda: b"NaN"),
        ("truncated", lambda: raw[: rng.randrange(1, max(2, len(raw)))]),
        ("trailing garbage", lambda: raw + b"}}garbage"),
        ("invalid UTF-8 inside", lambda: raw.replace(b'"', b'"\xff\xfe', 2)[:] if b'"' in raw else raw + b"\xff"),
        ("overlong UTF-8", lambda: raw.replace(b"a", b"\xc1\xa1", 1)),
        ("CESU surrogate bytes", lambda: raw.replace(b'":', b'\xed\xa0\x80":', 1)),
        ("UTF-8 BOM", lambda: b"\xef\xbb\xbf" + raw),
        ("UTF-16", lambda: raw.decode().encode("utf-16")),
        ("UTF-32", lambda: raw.decode().encode("utf-32")),
        ("latin-1 é", lambda: raw.replace(b"a", b"\xe9", 1)),
        ("NUL bytes", lambda: raw.replace(b",", b",\x00", 1)),
        ("duplicate keys", lambda: b'{"model": null, "input": 5, ' + raw[1:] if raw.startswith(b"{") else raw),
        ("unescaped control char", lambda: raw.replace(b'": "', b'": "\x01\n', 1)),
        ("single quotes", lambda: raw.replace(b'"', b"'")),
        ("10 MB of spaces", lambda: raw + b" " * (10 * 1024 * 1024)),
    ]
    label, make = rng.choice(choices)
    return make(), label


HEADER_CHOICES: list[tuple[str, str, str | bytes | None]] = [
    ("drop Content-Type", "Content-Type", None),
    ("Content-Type text/plain", "Content-Type", "text/plain"),
    ("Content-Type form", "Content-Type", "application/x-www-form-urlencoded"),
    ("Content-Type multipart without boundary", "Content-Type", "multipart/form-data"),
    ("Content-Type json; charset=utf-16", "Content-Type", "application/json; charset=utf-16"),
    ("Content-Type garbage", "Content-Type", 'x/y; ;=;charset="; boundary='),
    ("drop X-DashScope-Async", "X-DashScope-Async", None),
    ("X-DashScope-Async: disable", "X-DashScope-Async", "disable"),
    ("X-DashScope-Async: ENABLE", "X-DashScope-Async", "ENABLE"),
    ("X-DashScope-Async: non-ASCII", "X-DashScope-Async", "énable".encode("latin-1")),
    ("X-DashScope-Async: enable", "X-DashScope-Async", "enable"),
    ("X-DashScope-OssResourceResolve: enable", "X-DashScope-OssResourceResolve", "enable"),
    ("X-DashScope-OssResourceResolve: \\xff", "X-DashScope-OssResourceResolve", b"\xff\xfe"),
    ("X-DashScope-Sse: enable", "X-DashScope-Sse", "enable"),
    ("X-DashScope-Sse: disable", "X-DashScope-Sse", "disable"),
    ("X-DashScope-Sse: \\xff", "X-DashScope-Sse", b"\xffenable"),
    ("X-DashScope-WorkSpace: garbage", "X-DashScope-WorkSpace", "ws_" + "z" * 300),
    ("X-DashScope-WorkSpace: \\xff", "X-DashScope-WorkSpace", b"ws_\xff\x80"),
    ("drop Authorization", "Authorization", None),
    ("Authorization: Bearer", "Authorization", "Bearer"),
    ("Authorization: Bearer 10 KB", "Authorization", "Bearer sk-" + "a" * 10_000),
    ("Authorization: non-ASCII", "Authorization", "Bearer sk-\xe9\xff".encode("latin-1")),
    ("Authorization: Basic", "Authorization", "Basic Zm9vOmJhcg=="),
]


def mutate_headers(headers: dict, rng: random.Random, weights_auth: float = 0.3) -> tuple[dict, str]:
    headers = dict(headers)
    choices = [c for c in HEADER_CHOICES if c[1] != "Authorization" or rng.random() < weights_auth]
    label, name, value = rng.choice(choices)
    if value is None:
        headers.pop(name, None)
    else:
        headers[name] = value
    return headers, label


def mutate_json_request(body: dict, headers: dict, rng: random.Random) -> tuple[bytes, dict, str]:
    """A body mutation (one or two), sometimes the bytes as a whole, sometimes a header too."""
    labels = []
    roll = rng.random()
    if roll < 0.12:
        data, label = whole_body(body, rng)
        labels.append(label)
    else:
        mutated, label = mutate_tree(body, rng)
        labels.append(label)
        if rng.random() < 0.25:
            mutated, label = mutate_tree(mutated, rng)
            labels.append(label)
        data = encode(mutated, ascii_only=rng.random() < 0.5)
    if rng.random() < 0.25:
        headers, label = mutate_headers(headers, rng)
        labels.append(label)
    return data, headers, "; ".join(labels)


# --- query strings and path segments -------------------------------------------------------


def qs_value_pool(rng: random.Random) -> list[tuple[str, str]]:
    """Query/path values as they go on the wire (already percent-encoded)."""
    q = urllib.parse.quote
    return [
        ("''", ""),
        ("'0'", "0"),
        ("'-1'", "-1"),
        ("'1'", "1"),
        ("10**30", str(10**30)),
        ("2**63", str(2**63)),
        ("'1.5'", "1.5"),
        ("'1e3'", "1e3"),
        ("'nan'", "nan"),
        ("'inf'", "inf"),
        ("'-inf'", "-inf"),
        ("'1e309'", "1e309"),
        ("'0x10'", "0x10"),
        ("' 1 '", "%201%20"),
        ("unicode digit", q(rng.choice(UNICODE_DIGITS))),
        ("unicode digits", q("".join(rng.choices(UNICODE_DIGITS, k=3)))),
        ("'²'", q("²")),
        ("'٣'", q("٣")),
        ("'１０'", q("１０")),
        ("14 unicode digits", q("".join(rng.choices(UNICODE_DIGITS, k=14)))),
        ("date with ²", q("2026112²120000")),
        ("fullwidth date", q("２０２６１１２２１２００００")),
        ("'99999999999999'", "99999999999999"),
        ("'00000000000000'", "00000000000000"),
        ("'20260230000000'", "20260230000000"),
        ("'20261122'", "20261122"),
        ("'19700101000000'", "19700101000000"),
        ("'99991231235959'", "99991231235959"),
        ("'00010101000000'", "00010101000000"),
        ("%ff invalid UTF-8", "%ff%fe"),
        ("%00", "a%00b"),
        ("CESU surrogate", "%ED%A0%80"),
        ("'..'", ".."),
        ("'%2e%2e%2f'", "%2e%2e%2f"),
        ("slash", "a%2Fb"),
        ("10 KB", "x" * 10_000),
        ("30 KB", "y" * 30_000),
        ("CJK", q("猫" * 10)),
        ("control", "%01%1b%7f"),
        ("json", q('{"a":[1]}')),
        ("plus", "+1+"),
        ("PENDING", "PENDING"),
        ("SUCCEEDED", "SUCCEEDED"),
        ("'succeeded'", "succeeded"),
        ("UNKNOWN", "UNKNOWN"),
        ("hour", "hour"),
        ("day", "day"),
        ("'week'", "week"),
    ]


def segment_pool(rng: random.Random) -> list[tuple[str, str]]:
    """Values for one path segment (percent-encoded)."""
    q = urllib.parse.quote
    return [
        ("random uuid", str(uuid.UUID(int=rng.getrandbits(128)))),
        ("''", ""),
        ("'..'", ".."),
        ("'.'", "."),
        ("%2e%2e", "%2e%2e"),
        ("%2F", "a%2Fb"),
        ("%00", "a%00b"),
        ("%ff", "%ff%fe"),
        ("CESU surrogate", "%ED%A0%80"),
        ("10 KB", "t" * 10_000),
        ("300 chars", "u" * 300),
        ("'²'", q("²")),
        ("CJK", q("任务")),
        ("0", "0"),
        ("-1", "-1"),
        ("10**30", str(10**30)),
        ("2**63", str(2**63)),
        ("2**63-1", str(2**63 - 1)),
        ("-2**63-1", str(-(2**63) - 1)),
        ("1.5", "1.5"),
        ("1e3", "1e3"),
        ("'nan'", "nan"),
        ("' '", "%20"),
        ("quote", "%22%27"),
        ("sql", q("1' OR '1'='1")),
        ("backslash", "%5C..%5C"),
        ("control", "%01%7f"),
    ]


def query(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" if v is not None else k for k, v in params)


def mutate_query(params: list[tuple[str, str]], rng: random.Random, names: list[str]) -> tuple[list, str]:
    params = list(params)
    op = rng.choices(["replace", "delete", "add", "duplicate", "bare"], weights=[10, 2, 3, 2, 1])[0]
    if op == "delete" and params:
        i = rng.randrange(len(params))
        name = params.pop(i)[0]
        return params, f"drop {name}"
    if op == "duplicate" and params:
        name, _ = rng.choice(params)
        label, value = rng.choice(qs_value_pool(rng))
        params.append((name, value))
        return params, f"{name} twice, second {label}"
    if op == "bare":
        name = rng.choice(names)
        params = [(k, v) for k, v in params if k != name] + [(name, None)]
        return params, f"{name} without '='"
    if op == "add" or not params:
        name = rng.choice(["extra", "%ff", "a%00", "x" * 1000, *names])
        label, value = rng.choice(qs_value_pool(rng))
        params.append((name, value))
        return params, f"add {name[:20]}={label}"
    i = rng.randrange(len(params))
    label, value = rng.choice(qs_value_pool(rng))
    params[i] = (params[i][0], value)
    return params, f"{params[i][0]}={label}"


# --- multipart -----------------------------------------------------------------------------

BOUNDARY = b"fuzzb0undary7MA4YWxkTrZu0gW"


def multipart(parts: list[tuple[bytes, bytes | None, bytes]], boundary: bytes = BOUNDARY, close: bool = True) -> bytes:
    """A multipart/form-data body from (name, filename or None, value) — raw bytes throughout,
    so names and values may hold NUL, invalid UTF-8 or anything else."""
    out = []
    for name, filename, value in parts:
        disposition = b'Content-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        out.append(b"--" + boundary + b"\r\n" + disposition + b"\r\n")
        if filename is not None:
            out.append(b"Content-Type: application/octet-stream\r\n")
        out.append(b"\r\n" + value + b"\r\n")
    if close:
        out.append(b"--" + boundary + b"--\r\n")
    return b"".join(out)


# --- sending and judging -------------------------------------------------------------------


@dataclass
class Req:
    method: str
    url: str  # path and query, percent-encoded
    headers: dict = field(default_factory=dict)
    data: bytes | Iterator[bytes] | None = None
    label: str = ""


@dataclass
class Offense:
    req: Req
    status: int | str
    body: str
    log_from: int = 0  # the server's output line where this request began
    logged: list[str] = field(default_factory=list)  # the exception lines it logged

    def __str__(self) -> str:
        url = self.req.url if len(self.req.url) <= 160 else self.req.url[:150] + f"…({len(self.req.url)} chars)"
        text = f"{self.req.method} {url}\n      mutation: {self.req.label}\n      → {self.status} {self.body[:300]}"
        return text + "".join(f"\n      server: {line}" for line in self.logged[-2:])


class Fuzz:
    """Sends requests over one keep-alive session and keeps the offenses."""

    def __init__(self, server: Server):
        self.server = server
        self.session = requests.Session()
        self.offenses: list[Offense] = []
        self.sent = 0
        self.dead_streak = 0
        self.by_status: dict[int, int] = {}
        self.log_from = 0

    def send(self, req: Req) -> requests.Response | None:
        if self.dead_streak >= 5:  # the server is gone: stop rather than time out thousands of times
            return None
        self.sent += 1
        self.log_from = len(self.server.output)
        try:
            r = self.session.request(
                req.method,
                self.server.url + req.url,
                headers=req.headers,
                data=req.data,
                timeout=TIMEOUT,
                stream=True,
                allow_redirects=False,
            )
            self.judge(req, r)
            self.dead_streak = 0
            return r
        except requests.RequestException as exc:
            self.offend(req, "no answer", f"{type(exc).__name__}: {exc}")
            self.dead_streak += 1
            self.session = requests.Session()
            return None

    def offend(self, req: Req, status: int | str, body: str) -> None:
        self.offenses.append(Offense(req, status, body, self.log_from))

    def judge(self, req: Req, r: requests.Response) -> None:
        self.by_status[r.status_code] = self.by_status.get(r.status_code, 0) + 1
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            self.judge_stream(req, r)
            return
        content = r.content  # reads the whole answer
        if r.status_code >= 500:
            self.offend(req, r.status_code, content.decode("utf-8", "replace"))
        elif r.status_code >= 400 and req.method != "HEAD":
            problem = error_body_problem(content)
            if problem:
                self.offend(req, r.status_code, f"{problem}: {content[:200]!r}")

    def judge_stream(self, req: Req, r: requests.Response) -> None:
        event: dict[str, str] = {}
        for line in r.iter_lines(decode_unicode=False):
            line = line.decode("utf-8", "replace")
            if line == "":
                self.judge_event(req, event)
                event = {}
            elif line.startswith(":HTTP_STATUS/"):
                event["status"] = line.split("/", 1)[1]
            elif ":" in line:
                name, _, value = line.partition(":")
                event[name] = value
        self.judge_event(req, event)

    def judge_event(self, req: Req, event: dict[str, str]) -> None:
        if event.get("event") != "error":
            return
        status = event.get("status", "")
        if not status.isascii() or not status.isdigit() or int(status) >= 500:
            self.offend(req, f"event:error status {status}", event.get("data", ""))
            return
        problem = error_body_problem(event.get("data", "").encode())
        if problem:
            self.offend(req, f"event:error status {status}", f"{problem}: {event.get('data')}")

    def report(self, family: str) -> str:
        """The first offenses, one per distinct (route, status, logged exception or mutation),
        with the exception lines the server logged for them."""
        time.sleep(0.2)  # the server's last log lines, still in the pipe
        output = list(self.server.output)
        for offense in self.offenses:
            offense.logged = logged_exception(output, offense.log_from, offense.req)
        dump = os.environ.get("IMAGESCOPE_FUZZ_DUMP")
        if dump:  # every offense, one JSON line each, for triage
            with open(dump, "a") as out:
                for o in self.offenses:
                    out.write(
                        json.dumps(
                            {
                                "family": family,
                                "method": o.req.method,
                                "url": o.req.url[:2000],
                                "mutation": o.req.label,
                                "status": str(o.status),
                                "body": o.body[:500],
                                "server": o.logged,
                            }
                        )
                        + "\n"
                    )
        shown, seen = [], set()
        for offense in self.offenses:
            kind = (
                offense.req.method,
                route_of(offense.req.url),
                offense.status,
                offense.logged[-1][:60] if offense.logged else re.sub(r"\d+", "N", offense.req.label)[:50],
            )
            if kind in seen:
                continue
            seen.add(kind)
            shown.append(str(offense))
            if len(shown) == 10:
                break
        return (
            f"{family}: {len(self.offenses)} of {self.sent} requests broke the rules; "
            f"the first of each kind:\n  " + "\n  ".join(shown)
        )


def error_body_problem(content: bytes) -> str:
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return "error answer is not JSON"
    if not isinstance(body, dict):
        return "error answer is not a JSON object"
    missing = [k for k in ("code", "message", "request_id") if not isinstance(body.get(k), str)]
    return f"error answer lacks string {', '.join(missing)}" if missing else ""


def route_of(url: str) -> str:
    path = url.split("?")[0]
    path = re.sub(r"/tasks/[^/]+", "/tasks/{id}", path)
    path = re.sub(r"/files/.*", "/files/{key}", path)
    path = re.sub(r"/accounts/[^/]+/", "/accounts/{name}/", path)
    return re.sub(r"/keys/[^/]+", "/keys/{id}", path)


def logged_exception(output: list[str], start: int, req: Req) -> list[str]:
    """The final line of each exception in the first traceback the server logged for this
    request ('unhandled error on METHOD PATH'), from its output line ``start`` on."""
    path = urllib.parse.unquote(req.url.split("?")[0], errors="replace")
    found: list[str] = []
    mine = in_trace = False
    for line in output[start : start + 2000]:
        line = line.rstrip("\n")
        m = re.search(r"unhandled error on (\S+) (.*)$", line)
        if m:
            if mine:
                break
            mine = m.group(1) == req.method and (m.group(2) == path or m.group(2)[:100] == path[:100])
            continue
        if line.startswith("Traceback"):
            in_trace = True
        elif in_trace and line and not line.startswith((" ", "\t", "During handling", "The above")):
            in_trace = False
            if mine and line[:200] not in found:
                found.append(line[:200])
        elif mine and not in_trace and line.startswith("INFO:"):
            break
    return found


# --- the server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory) -> Server:
    home = tmp_path_factory.mktemp("fuzz")
    models = home / "models.toml"
    models.write_text('[models."wanx2.1-imageedit"]\nsuper_resolution = "preview"\n')
    s = Server(
        home / "data",
        env={
            "IMAGESCOPE_ADMIN_TOKEN": ADMIN,
            "IMAGESCOPE_SUBMIT_RPS": "100000",
            "IMAGESCOPE_CONCURRENCY": "4",
            "IMAGESCOPE_WORKERS": "2",
            "IMAGESCOPE_MODELS_FILE": str(models),
        },
    ).start()
    yield s
    s.stop()


def user_headers(server: Server, asynchronous: bool = True) -> dict:
    return server.headers(asynchronous=asynchronous)


def rng_for(family: str) -> random.Random:
    return random.Random(f"{SEED}-{family}")


def count(n: int) -> int:
    return max(1, int(n * SCALE))


# --- the families --------------------------------------------------------------------------


def t2i_seeds() -> list[dict]:
    return [
        {
            "model": "wan2.2-t2i-flash",
            "input": {"prompt": "a lighthouse at dusk", "negative_prompt": "people"},
            "parameters": {"size": "512*512", "n": 1, "seed": 42, "prompt_extend": False, "watermark": False},
        },
        {
            "model": "qwen-image-plus",
            "input": {"prompt": "一只橘猫坐在窗台上"},
            "parameters": {"size": "1328*1328", "n": 1, "prompt_extend": True, "watermark": True},
        },
        {
            "model": "wan2.5-t2i-preview",
            "input": {"prompt": "A flower shop"},
            "parameters": {"size": "768*768", "n": 1},
        },
    ]


def i2i_seeds() -> list[dict]:
    extra = {
        "stylization_all": {"strength": 0.5},
        "description_edit": {"strength": 0.7},
        "expand": {"top_scale": 1.5, "bottom_scale": 1.2, "left_scale": 1.0, "right_scale": 2.0},
        "super_resolution": {"upscale_factor": 2},
        "doodle": {"is_sketch": False},
    }
    seeds = []
    for function in FUNCTIONS:
        body = {
            "model": "wanx2.1-imageedit",
            "input": {"function": function, "prompt": "make it watercolour", "base_image_url": BASE},
            "parameters": {"n": 1, "seed": 7, "watermark": False, **extra.get(function, {})},
        }
        if function == "description_edit_with_mask":
            body["input"]["mask_image_url"] = MASK
        seeds.append(body)
    seeds.append(
        {
            "model": "wan2.5-i2i-preview",
            "input": {"prompt": "put image 1 next to image 2", "negative_prompt": "blur", "images": [BASE, BASE]},
            "parameters": {"size": "768*768", "n": 1, "prompt_extend": False},
        }
    )
    return seeds


def message(*content: dict) -> dict:
    return {"messages": [{"role": "user", "content": list(content)}]}


def mm_seeds(asynchronous: bool) -> list[dict]:
    seeds = [
        {
            "model": "wan2.6-t2i",
            "input": message({"text": "a flower shop"}),
            "parameters": {
                "size": "768*768",
                "n": 1,
                "seed": 1,
                "prompt_extend": False,
                "watermark": False,
                "negative_prompt": "blur",
            },
        },
        {
            "model": "wan2.6-image",
            "input": message({"text": "make it autumn"}, {"image": BASE}),
            "parameters": {"size": "768*768", "n": 1},
        },
    ]
    if not asynchronous:
        seeds += [
            {
                "model": "qwen-image-plus",
                "input": message({"text": "一只橘猫"}),
                "parameters": {"size": "1328*1328", "n": 1, "prompt_extend": False, "watermark": False},
            },
            {
                "model": "qwen-image-edit",
                "input": message({"image": BASE}, {"text": "make it night"}),
                "parameters": {"size": "512*512", "n": 1},
            },
            {
                "model": "wan2.6-image",
                "input": message({"text": "a 2-step recipe"}),
                "parameters": {"enable_interleave": True, "max_images": 1, "size": "768*768", "stream": True},
            },
        ]
    return seeds


def fuzz_json_route(
    f: Fuzz,
    family: str,
    path: str,
    seeds: list[dict],
    n: int,
    asynchronous: bool,
    after: Callable[[requests.Response], None] | None = None,
    sse: bool = False,
) -> None:
    rng = rng_for(family)
    for _ in range(count(n)):
        seed = rng.choice(seeds)
        headers = user_headers(f.server, asynchronous)
        if sse and (rng.random() < 0.4 or seed["parameters"].get("enable_interleave")):
            headers["X-DashScope-Sse"] = "enable"
        data, headers, label = mutate_json_request(seed, headers, rng)
        r = f.send(Req("POST", path, headers, data, f"[{seed['model']}/{seed['input'].get('function', '-')}] {label}"))
        if r is not None and after is not None and r.status_code == 200:
            after(r)


def cancel_after(f: Fuzz, rng: random.Random):
    """Cancel half the accepted tasks at once (the other half run): exercises cancel on real
    ids and keeps the workers' backlog short."""

    def after(r: requests.Response) -> None:
        try:
            task_id = r.json()["output"]["task_id"]
        except (ValueError, KeyError, TypeError):
            return
        if rng.random() < 0.5:
            f.send(
                Req(
                    "POST",
                    f"/api/v1/tasks/{task_id}/cancel",
                    user_headers(f.server, False),
                    None,
                    "cancel an accepted task",
                )
            )

    return after


def fam_text2image(f: Fuzz) -> None:
    fuzz_json_route(f, "text2image", T2I, t2i_seeds(), 600, True, cancel_after(f, rng_for("t2i-cancel")))


def fam_image2image(f: Fuzz) -> None:
    fuzz_json_route(f, "image2image", I2I, i2i_seeds(), 700, True, cancel_after(f, rng_for("i2i-cancel")))


def fam_multimodal(f: Fuzz) -> None:
    fuzz_json_route(f, "multimodal", MM_SYNC, mm_seeds(False), 350, False, sse=True)


def fam_image_generation(f: Fuzz) -> None:
    fuzz_json_route(f, "image-generation", MM_ASYNC, mm_seeds(True), 350, True, cancel_after(f, rng_for("ig-cancel")))


def fam_tasks(f: Fuzz) -> None:
    rng = rng_for("tasks")
    s = f.server
    created = s.submit(t2i_seeds()[0]).json()["output"]["task_id"]
    names = ["page_no", "page_size", "start_time", "end_time", "status", "model_name"]
    valid = [
        ("page_no", "1"),
        ("page_size", "10"),
        ("start_time", "20200101000000"),
        ("end_time", "20991231235959"),
        ("status", "SUCCEEDED"),
        ("model_name", "wan2.2-t2i-flash"),
    ]
    headers = user_headers(s, False)
    for _ in range(count(600)):
        roll = rng.random()
        h, hlabel = mutate_headers(headers, rng) if rng.random() < 0.1 else (headers, "")
        if roll < 0.55:
            params, label = mutate_query(rng.sample(valid, rng.randint(0, len(valid))), rng, names)
            if rng.random() < 0.3:
                params, more = mutate_query(params, rng, names)
                label += "; " + more
            f.send(Req("GET", "/api/v1/tasks?" + query(params), h, None, "; ".join(filter(None, [label, hlabel]))))
        else:
            label, task_id = rng.choice(segment_pool(rng) + [("own task id", created)] * 4)
            if rng.random() < 0.5:
                f.send(Req("GET", f"/api/v1/tasks/{task_id}", h, None, f"task id {label}"))
            else:
                data = rng.choice([None, b"", b"{}", deep(3000, "list").text.encode(), b"\xff\xfe"])
                f.send(
                    Req(
                        "POST",
                        f"/api/v1/tasks/{task_id}/cancel",
                        h,
                        data,
                        f"cancel task id {label}, body {short(data)}",
                    )
                )


def fam_uploads(f: Fuzz) -> None:
    rng = rng_for("uploads")
    s = f.server
    headers = user_headers(s, False)
    valid = [("action", "getPolicy"), ("model", "wanx2.1-imageedit")]
    for _ in range(count(120)):
        params, label = mutate_query(valid, rng, ["action", "model"])
        f.send(Req("GET", "/api/v1/uploads?" + query(params), headers, None, f"getPolicy {label}"))

    policy = requests.get(
        f"{s.api}/uploads", params={"action": "getPolicy", "model": "wanx2.1-imageedit"}, headers=headers, timeout=10
    ).json()["output"]
    upload_dir = policy["upload_dir"].encode()
    names: list[tuple[str, bytes]] = [
        ("300-char name", b"n" * 300 + b".png"),
        ("255-char name", b"m" * 251 + b".png"),
        ("250-char name", b"p" * 246 + b".png"),
        ("240-char name", b"r" * 236 + b".png"),
        ("5000-char name", b"o" * 5000),
        ("NUL in name", b"a\x00b.png"),
        ("'..' segment", b"../escape.png"),
        ("'a/../../b'", b"a/../../b.png"),
        ("'./x'", b"./x.png"),
        ("'..'", b".."),
        ("'.'", b"."),
        ("''", b""),
        ("trailing slash", b"dir/"),
        ("nested", b"a/b/c.png"),
        ("backslash", b"..\\..\\x.png"),
        ("%00", b"a%00.png"),
        ("CJK", "猫.png".encode()),
        ("invalid UTF-8", b"\xff\xfe.png"),
        ("CESU surrogate", b"\xed\xa0\x80.png"),
        ("control chars", b"\x01\x1b.png"),
        ("newline", b"a\nb.png"),
        ("double slash", b"//x.png"),
        ("1000 segments", b"d/" * 1000 + b"x.png"),
        ("spaces", b"  .png"),
        ("quote", b'a".png'),
        ("absolute", b"/etc/passwd"),
    ]
    signature = policy["signature"].encode()
    signatures: list[tuple[str, bytes]] = [
        ("non-ASCII signature", "签名".encode()),
        ("latin-1 signature", "sigé".encode("latin-1")),
        ("\\xff signature", b"\xff\xfe"),
        ("empty signature", b""),
        ("signature + 'A'", signature + b"A"),
        ("100 KB signature", b"A" * 100_000),
        ("signature with NUL", signature[:5] + b"\x00" + signature[5:]),
        ("CESU surrogate signature", b"\xed\xa0\x80"),
        ("non-ASCII same length", "é".encode() * (len(signature) // 2)),
    ]
    policies: list[tuple[str, bytes]] = [
        ("garbage policy", b"!!!"),
        ("empty policy", b""),
        ("non-JSON base64 policy", base64.b64encode(b"\xff\x00")),
        ("policy of []", base64.b64encode(b"[]")),
        ("non-ASCII policy", "策略".encode()),
        ("100 KB policy", b"B" * 100_000),
    ]
    for i in range(count(450)):
        key = upload_dir + b"/f%d.png" % i
        fields = {
            b"OSSAccessKeyId": b"imagescope",
            b"policy": policy["policy"].encode(),
            b"Signature": signature,
            b"key": key,
            b"success_action_status": b"200",
            b"x-oss-object-acl": b"private",
        }
        file_part: tuple[bytes, bytes | None, bytes] | None = (b"file", b"x.png", PNG_BYTES)
        content_type = "multipart/form-data; boundary=" + BOUNDARY.decode()
        labels, close, streamed = [], True, False
        for _ in range(rng.choice([1, 1, 1, 2])):
            op = rng.choices(
                ["name", "signature", "policy", "file", "form", "content-type"], weights=[8, 4, 2, 3, 3, 2]
            )[0]
            if op == "name":
                label, name = rng.choice(names)
                fields[b"key"] = (upload_dir + b"/" + name) if rng.random() < 0.85 else name
                labels.append(f"key {label}")
            elif op == "signature":
                label, fields[b"Signature"] = rng.choice(signatures)
                labels.append(label)
            elif op == "policy":
                label, fields[b"policy"] = rng.choice(policies)
                labels.append(label)
            elif op == "file":
                label, file_part = rng.choice(
                    [
                        ("no file", None),
                        ("empty file", (b"file", b"x.png", b"")),
                        ("not an image", (b"file", b"x.png", b"%PDF-1.4" * 100)),
                        ("file as a plain field", (b"file", None, PNG_BYTES)),
                        ("file name with NUL", (b"file", b"a\x00.png", PNG_BYTES)),
                        ("file name non-ASCII", (b"file", "猫\udc80".encode("utf-8", "surrogatepass"), PNG_BYTES)),
                        ("11 MB file", (b"file", b"x.png", b"\0" * (11 * 1024 * 1024))),
                    ]
                )
                labels.append(label)
            elif op == "form":
                label = rng.choice(
                    [
                        "two file parts",
                        "drop key",
                        "drop policy",
                        "drop Signature",
                        "40 fields",
                        "unclosed form",
                        "chunked (no Content-Length)",
                        "field name non-ASCII",
                    ]
                )
                labels.append(label)
                if label == "two file parts":
                    pass  # a second file part is added below
                elif label.startswith("drop "):
                    fields.pop(label[5:].encode(), None)
                elif label == "40 fields":
                    fields.update({b"f%d" % j: b"v" for j in range(40)})
                elif label == "unclosed form":
                    close = False
                elif label.startswith("chunked"):
                    streamed = True
                else:
                    fields["字段".encode()] = b"v"
            else:
                label, content_type = rng.choice(
                    [
                        ("no boundary", "multipart/form-data"),
                        ("wrong boundary", "multipart/form-data; boundary=zzz"),
                        ("urlencoded", "application/x-www-form-urlencoded"),
                        ("json", "application/json"),
                        ("no content type", ""),
                        ("boundary non-ASCII", "multipart/form-data; boundary=\xe9\xe9"),
                    ]
                )
                labels.append(f"Content-Type {label}")
        parts = [(k, None, v) for k, v in fields.items()]
        if file_part is not None:
            parts.append(file_part)
            if "two file parts" in labels:
                parts.append((b"file", b"y.png", PNG_BYTES))
        body = multipart(parts, close=close)
        h = {"Content-Type": content_type} if content_type else {}
        data: Any = body
        if streamed:
            data = iter([body[: len(body) // 2], body[len(body) // 2 :]])
        label = "; ".join(labels) or "valid upload"
        shown_key = fields.get(b"key", b"<none>")
        f.send(Req("POST", "/uploads/oss", h, data, f"{label} (key {short(shown_key, 80)})"))


def fam_files(f: Fuzz) -> None:
    rng = rng_for("files")
    s = f.server
    done = s.run(t2i_seeds()[0])
    url = urllib.parse.urlsplit(done["output"]["results"][0]["url"])
    key = url.path[len("/files/") :]
    params = dict(urllib.parse.parse_qsl(url.query))
    valid = [("Expires", params["Expires"]), ("Signature", urllib.parse.quote(params["Signature"], safe=""))]
    keys = [
        ("valid key", key),
        ("..", "../../../etc/passwd"),
        ("%2e%2e", "%2e%2e/%2e%2e/etc/passwd"),
        ("NUL", key + "%00"),
        ("%ff", key + "%ff"),
        ("long", "k" * 10_000),
        ("300-char", "k" * 300 + ".png"),
        ("CJK", urllib.parse.quote("图片.png")),
        ("empty", ""),
        ("trailing slash", key + "/"),
        ("double slash", "//" + key),
        ("backslash", "..%5C..%5Cx"),
        ("CESU", "%ED%A0%80.png"),
        ("directory", key.rsplit("/", 1)[0] if "/" in key else "."),
        ("absolute", "/etc/passwd"),
    ]
    signatures = [
        ("non-ASCII signature", urllib.parse.quote("签名")),
        ("\\xff signature", "%ff%fe"),
        ("NUL signature", "a%00b"),
        ("30 KB signature", "S" * 30_000),
        ("CESU signature", "%ED%A0%80"),
        ("non-ASCII same length", urllib.parse.quote("é" * (len(params["Signature"]) // 2))),
    ]
    for _ in range(count(450)):
        label, k = rng.choice(keys) if rng.random() < 0.4 else keys[0]
        labels = [] if label == "valid key" else [f"key {label}"]
        q = list(valid)
        roll = rng.random()
        if roll < 0.3:
            slabel, value = rng.choice(signatures)
            q = [("Expires", valid[0][1]), ("Signature", value)]
            labels.append(slabel)
        elif roll < 0.85:
            q, qlabel = mutate_query(q, rng, ["Expires", "Signature"])
            labels.append(qlabel)
        method = rng.choice(["GET", "GET", "HEAD"])
        f.send(Req(method, f"/files/{k}?" + query(q), {}, None, "; ".join(labels) or "valid"))


def fam_admin(f: Fuzz) -> None:
    rng = rng_for("admin")
    s = f.server
    auth = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}

    def admin(method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, f"{s.url}/admin/v1{path}", headers=auth, json=body, timeout=10)

    assert admin("POST", "/accounts", {"name": "fz"}).status_code == 200
    assert admin("POST", "/accounts/fz/workspaces", {"name": "team"}).status_code == 200
    key_ids = [admin("POST", "/accounts/fz/keys", {"name": f"k{i}"}).json()["key_info"]["id"] for i in range(3)]

    bodies = [
        ("POST", "/accounts", {"name": "fz-new"}),
        ("POST", "/accounts/{name}/keys", {"name": "ci", "workspace": "team"}),
        ("POST", "/accounts/{name}/workspaces", {"name": "ws"}),
        ("PUT", "/accounts/{name}/limits", {"model": "wan2.2-t2i-flash", "submit_rps": 5, "concurrency": 2}),
        ("PUT", "/accounts/{name}/quota", {"model": "*", "free_quota": 10}),
        ("PUT", "/accounts/{name}/free-only", {"free_only": False}),
    ]
    queries = [
        (
            "/usage",
            [
                ("granularity", "hour"),
                ("start", "0"),
                ("end", str(int(time.time()) + 60)),
                ("account", "fz"),
                ("model", "wan2.2-t2i-flash"),
            ],
        ),
        (
            "/ledger",
            [("account", "fz"), ("model", "wan2.2-t2i-flash"), ("start", "0"), ("end", "99999999999"), ("limit", "10")],
        ),
    ]
    names = [("fz", "fz")] * 6 + [(label, v) for label, v in segment_pool(rng) if v not in ("default",)]
    for _ in range(count(700)):
        roll = rng.random()
        headers = dict(auth)
        if roll < 0.55:
            method, template, seed = rng.choice(bodies)
            nlabel, name = rng.choice(names) if rng.random() < 0.3 else ("fz", "fz")
            seed = copy(seed)
            if template == "/accounts":
                seed["name"] = f"fz-{rng.getrandbits(32):x}"
            data, headers, label = mutate_json_request(seed, headers, rng)
            label = (f"name {nlabel}; " if nlabel != "fz" else "") + label
            f.send(Req(method, "/admin/v1" + template.replace("{name}", name), headers, data, label))
        elif roll < 0.75:
            path, valid = rng.choice(queries)
            params, label = mutate_query(valid, rng, [k for k, _ in valid])
            if rng.random() < 0.3:
                params, more = mutate_query(params, rng, [k for k, _ in valid])
                label += "; " + more
            f.send(Req("GET", f"/admin/v1{path}?" + query(params), headers, None, label))
        elif roll < 0.9:
            label, key_id = rng.choice(segment_pool(rng) + [("an existing key id", str(rng.choice(key_ids)))] * 3)
            f.send(Req("DELETE", f"/admin/v1/keys/{key_id}", headers, None, f"key id {label}"))
        else:
            path = rng.choice(["/accounts", "/keys", "/workspaces"])
            headers, label = mutate_headers(headers, rng, weights_auth=1.0)
            f.send(Req("GET", f"/admin/v1{path}", headers, None, label))


FAMILIES: dict[str, Callable[[Fuzz], None]] = {
    "text2image": fam_text2image,
    "image2image": fam_image2image,
    "multimodal-sync": fam_multimodal,
    "image-generation": fam_image_generation,
    "tasks": fam_tasks,
    "uploads": fam_uploads,
    "files": fam_files,
    "admin": fam_admin,
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fuzzed_requests_never_answer_5xx_and_errors_are_the_json_body(fuzz_server, family):
    f = Fuzz(fuzz_server)
    started = time.monotonic()
    FAMILIES[family](f)
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(f.by_status.items()))
    print(f"\n{family}: {f.sent} requests in {time.monotonic() - started:.1f} s ({statuses})")
    broken = len(f.offenses)
    assert broken == 0, f.report(family)


def test_the_server_is_still_up_and_serves_a_valid_request(fuzz_server):
    s = fuzz_server
    assert s.proc.poll() is None, "the server exited:\n" + "".join(s.output[-50:])
    done = s.run(t2i_seeds()[0])
    assert done["output"]["task_status"] == "SUCCEEDED", done
    r = requests.post(s.url + MM_SYNC, json=mm_seeds(False)[0], headers=user_headers(s, False), timeout=60)
    assert r.status_code == 200, r.text

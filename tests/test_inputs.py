"""Input images (``imagescope.inputs``): fetched from a real local HTTP(S) server, data URIs
and oss:// keys; the address guard, size and time limits, format and dimension checks."""

from __future__ import annotations

import base64
import datetime
import io
import random
import socket
import ssl
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from imagescope.errors import ServiceError
from imagescope.http.errors import status_of
from imagescope.inputs import (
    DOWNLOAD_FAILED_CODE,
    DOWNLOAD_FAILED_MESSAGE,
    ImageFetcher,
    ImageRules,
    InputDownloadFailed,
)

MB = 1024 * 1024
RULES = ImageRules(min_side=16, max_side=4096)
TIMEOUTS = dict(connect_timeout=1.0, read_timeout=0.5, total_timeout=10.0)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` RGB pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


GOOD = Image.new("RGB", (64, 48), (200, 30, 30))
NOISE = Image.frombytes("RGB", (256, 256), random.Random(0).randbytes(256 * 256 * 3))
GIF = encode(
    Image.new("RGB", (32, 32), (255, 0, 0)),
    "GIF",
    save_all=True,
    append_images=[Image.new("RGB", (32, 32), (0, 0, 255))],
)
FILES = {
    "/good.png": encode(GOOD, "PNG"),
    "/good.jpg": encode(GOOD, "JPEG"),
    "/good.webp": encode(GOOD, "WEBP"),
    "/good.bmp": encode(GOOD, "BMP"),
    "/good.tiff": encode(GOOD, "TIFF"),
    "/anim.gif": GIF,
    "/truncated.png": encode(NOISE, "PNG")[:20000],
    "/not-an-image.png": b"<html>definitely not an image</html>",
    "/bomb.png": png_declaring(50000, 50000),  # past Pillow's own limit: refused by open()
    "/big.png": png_declaring(12000, 12000),  # under it: refused from the header dimensions
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log: list[tuple[str, str]] = []  # (path, Host header) of every request, all servers

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.close_connection = True
        url = urlsplit(self.path)
        Handler.log.append((url.path, self.headers.get("Host", "")))
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            self.route(url.path, query)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up, as it should

    def route(self, path: str, query: dict[str, str]) -> None:
        if path in FILES:
            return self.send(200, FILES[path])
        if path == "/to":  # redirect to ?url=
            return self.send(int(query.get("status", 302)), b"", Location=query["url"])
        if path.startswith("/redirects/"):  # /redirects/3: three redirects, then an image
            left = int(path.rsplit("/", 1)[1])
            to = f"/redirects/{left - 1}" if left > 1 else "/good.png"
            return self.send(302, b"", Location=to)
        if path.startswith("/status/"):
            return self.send(int(path.rsplit("/", 1)[1]), b"error page")
        if path == "/huge":  # honest Content-Length over the limit
            self.start(200, **{"Content-Length": str(11 * MB)})
            return self.stream(11 * MB)
        if path == "/endless":  # no Content-Length, the body ends when the connection does
            self.start(200, Connection="close")
            return self.stream(1000 * MB)
        if path == "/chunked":  # chunked, 11 MB
            self.start(200, **{"Transfer-Encoding": "chunked"})
            for _ in range(11 * 16):
                self.wfile.write(b"10000\r\n" + b"\0" * 0x10000 + b"\r\n")
            return self.wfile.write(b"0\r\n\r\n")
        if path == "/lying-length":  # says 1000 bytes, sends 11 MB
            self.start(200, **{"Content-Length": "1000"})
            return self.stream(11 * MB, prefix=encode(NOISE, "PNG"))
        if path == "/slow":  # headers at once, the body after 2 s
            self.start(200, **{"Content-Length": str(len(FILES["/good.png"]))})
            time.sleep(2)
            return self.wfile.write(FILES["/good.png"])
        if path == "/drip":  # a byte every 50 ms for 10 s
            self.start(200, Connection="close")
            for _ in range(200):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.05)
            return None
        return self.send(404, b"not found")

    def start(self, status: int, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def send(self, status: int, body: bytes, **headers: str) -> None:
        self.start(status, **{"Content-Length": str(len(body)), **headers})
        self.wfile.write(body)

    def stream(self, size: int, prefix: bytes = b"") -> None:
        self.wfile.write(prefix)
        block = b"\0" * 0x10000
        for _ in range((size - len(prefix)) // len(block)):
            self.wfile.write(block)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the default 5 drops connections of the concurrent-fetch test

    def handle_error(self, request, client_address) -> None:
        pass  # clients that hang up on purpose are the point of these tests


def serve(tls: ssl.SSLContext | None = None) -> tuple[Server, int]:
    server = Server(("127.0.0.1", 0), Handler)
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture(scope="module")
def port():
    server, port = serve()
    yield port
    server.shutdown()
    server.server_close()


@pytest.fixture()
def log():
    Handler.log.clear()
    return Handler.log


@pytest.fixture()
def guarded(port) -> ImageFetcher:
    """The address guard on, the test server (and only it, by its exact host:port) allowed."""
    return ImageFetcher(allow_hosts=[f"127.0.0.1:{port}"], **TIMEOUTS)


@pytest.fixture()
def trusting() -> ImageFetcher:
    return ImageFetcher(allow_private=True, **TIMEOUTS)


def download_failed(call) -> InputDownloadFailed:
    with pytest.raises(InputDownloadFailed) as caught:
        call()
    error = caught.value
    assert (status_of(error), error.code) == (400, DOWNLOAD_FAILED_CODE)
    return error


def invalid_parameter(call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    error = caught.value
    assert not isinstance(error, InputDownloadFailed)
    assert (status_of(error), error.code) == (400, "InvalidParameter")
    return error


def blocked(fetcher: ImageFetcher, url: str) -> None:
    error = download_failed(lambda: fetcher.fetch(url, RULES))
    assert "not allowed" in error.reason
    assert error.message == DOWNLOAD_FAILED_MESSAGE


# --- http(s) downloads -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, fmt",
    [
        ("/good.png", "PNG"),
        ("/good.jpg", "JPEG"),
        ("/good.webp", "WEBP"),
        ("/good.bmp", "BMP"),
        ("/good.tiff", "TIFF"),
    ],
)
def test_image_url_is_downloaded_and_decoded(guarded, port, path, fmt):
    got = guarded.fetch(f"http://127.0.0.1:{port}{path}", RULES)
    assert (got.format, got.width, got.height, got.image.mode) == (fmt, 64, 48, "RGB")
    assert got.data == FILES[path]
    assert got.image.getpixel((5, 5))[0] > 150


def test_gif_input_is_its_first_frame(guarded, port):
    got = guarded.fetch(f"http://127.0.0.1:{port}/anim.gif", RULES)
    assert got.format == "GIF"
    assert got.image.getpixel((0, 0)) == (255, 0, 0)


def test_redirects_are_followed_up_to_the_limit(guarded, port):
    got = guarded.fetch(f"http://127.0.0.1:{port}/redirects/3", RULES)
    assert got.format == "PNG"


def test_too_many_redirects_is_input_download_failed(guarded, port):
    error = download_failed(lambda: guarded.fetch(f"http://127.0.0.1:{port}/redirects/4", RULES))
    assert "redirects" in error.reason


@pytest.mark.parametrize("status", [403, 404, 500, 503])
def test_http_error_status_is_input_download_failed(guarded, port, status):
    error = download_failed(lambda: guarded.fetch(f"http://127.0.0.1:{port}/status/{status}", RULES))
    assert error.message == "Reference image download failed, please check image url."


def test_redirect_without_location_is_input_download_failed(guarded, port):
    download_failed(lambda: guarded.fetch(f"http://127.0.0.1:{port}/status/302", RULES))


@pytest.mark.parametrize("to", ["file:///etc/passwd", "data:image/png;base64,AAAA", "oss://k", "ftp://x/"])
def test_redirect_to_another_scheme_is_input_download_failed(guarded, port, to):
    download_failed(lambda: guarded.fetch(f"http://127.0.0.1:{port}/to?url={to}", RULES))


@pytest.mark.parametrize("path", ["/huge", "/endless", "/chunked"])
def test_body_over_10_mb_is_refused_while_downloading(guarded, port, path):
    started = time.monotonic()
    error = download_failed(lambda: guarded.fetch(f"http://127.0.0.1:{port}{path}", RULES))
    assert "10485760" in error.reason
    assert time.monotonic() - started < 2  # /endless would never end if the cap came after


def test_body_beyond_a_lying_content_length_is_not_read(guarded, port):
    # The 1000 bytes declared are all that is read: a cut PNG, not 11 MB.
    invalid_parameter(lambda: guarded.fetch(f"http://127.0.0.1:{port}/lying-length", RULES))


def test_read_timeout_is_input_download_failed_with_the_timeout_message(guarded, port):
    error = download_failed(lambda: guarded.fetch(f"http://127.0.0.1:{port}/slow", RULES))
    assert error.timed_out
    assert error.message == "Download the media resource timed out during the data inspection process"


def test_slow_drip_is_cut_by_the_total_timeout(port):
    # Every read is quicker than the read timeout; the whole download is not.
    fetcher = ImageFetcher(allow_hosts=[f"127.0.0.1:{port}"], read_timeout=0.5, total_timeout=0.6)
    started = time.monotonic()
    error = download_failed(lambda: fetcher.fetch(f"http://127.0.0.1:{port}/drip", RULES))
    assert error.timed_out
    assert time.monotonic() - started < 2


def test_connection_refused_is_input_download_failed(trusting):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    download_failed(lambda: trusting.fetch(f"http://127.0.0.1:{port}/good.png", RULES))


def test_dns_failure_is_input_download_failed():
    def no_such_host(host, port):
        raise OSError(-2, "Name or service not known")

    fetcher = ImageFetcher(resolve=no_such_host, **TIMEOUTS)
    error = download_failed(lambda: fetcher.fetch("http://images.invalid/cat.png", RULES))
    assert "resolve" in error.reason


def test_concurrent_fetches_share_one_fetcher(guarded, port):
    results = []

    def fetch(path):
        results.append(guarded.fetch(f"http://127.0.0.1:{port}{path}", RULES).format)

    threads = [threading.Thread(target=fetch, args=(p,)) for p in ["/good.png", "/good.jpg"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["JPEG"] * 4 + ["PNG"] * 4


# --- the address guard -------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost",  # a name resolving to loopback
        "127.0.0.1",
        "127.1",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",  # IPv4-compatible
        "[64:ff9b::7f00:1]",  # NAT64 of loopback
        "[2002:7f00:1::]",  # 6to4 of loopback
    ],
)
def test_loopback_in_any_spelling_is_refused(port, log, host):
    fetcher = ImageFetcher(**TIMEOUTS)  # guard on, nothing allowed
    blocked(fetcher, f"http://{host}:{port}/good.png")
    assert log == []  # refused before connecting


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",  # CGNAT
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://255.255.255.255/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fec0::1]/",  # site-local
        "http://[ff02::1]/",
        "http://[::]/",
        "http://[::ffff:169.254.169.254]/",
        "https://[::ffff:a00:1]/",
    ],
)
def test_private_and_special_addresses_are_refused(url):
    blocked(ImageFetcher(**TIMEOUTS), url)


def test_a_name_with_any_private_address_is_refused(log):
    # A rebinding-style answer: one public, one private address.
    fetcher = ImageFetcher(resolve=lambda h, p: ["93.184.216.34", "127.0.0.1"], **TIMEOUTS)
    blocked(fetcher, "http://mixed.example/good.png")


@pytest.mark.parametrize(
    "target",
    [
        "http://localhost:{port}/good.png",  # same server, another name: not on the allowlist
        "http://127.0.0.1:{other}/good.png",  # same address, another port
        "http://[::1]:{port}/good.png",
        "http://0x7f000001:{port}/good.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://[::ffff:10.1.2.3]/",
    ],
)
def test_redirect_from_an_allowed_host_to_a_private_address_is_refused(guarded, port, log, target):
    target = target.format(port=port, other=port + 1)
    blocked(guarded, f"http://127.0.0.1:{port}/to?url={target}")
    assert [path for path, _ in log] == ["/to"]


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_every_redirect_status_is_checked(guarded, port, log, status):
    blocked(guarded, f"http://127.0.0.1:{port}/to?status={status}&url=http://localhost:{port}/good.png")


def test_connection_goes_to_the_address_resolved_once(port, log):
    calls = []

    def rebinding(host, p):  # first answer: nothing listens there; later: the test server
        calls.append(host)
        return ["127.0.0.1"] if len(calls) > 1 else ["127.0.0.2"]

    fetcher = ImageFetcher(resolve=rebinding, allow_hosts=[f"images.test:{port}"], **TIMEOUTS)
    # A client that resolved again when connecting (as a plain httpx.get would) would reach
    # the test server; this one connects to the address it resolved and checked.
    error = download_failed(lambda: fetcher.fetch(f"http://images.test:{port}/good.png", RULES))
    assert calls == ["images.test"] and log == []
    assert "127.0.0.2" in error.reason


def test_host_header_is_the_url_host(port, log):
    fetcher = ImageFetcher(resolve=lambda h, p: ["127.0.0.1"], allow_hosts=[f"images.test:{port}"])
    fetcher.fetch(f"http://images.test:{port}/good.png", RULES)
    assert log == [("/good.png", f"images.test:{port}")]


def test_allow_private_turns_the_guard_off(trusting, port):
    assert trusting.fetch(f"http://localhost:{port}/good.png", RULES).format == "PNG"
    assert trusting.fetch(f"http://127.0.0.1:{port}/to?url=http://localhost:{port}/good.jpg", RULES)


def test_environment_proxy_is_not_used(guarded, port, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    assert guarded.fetch(f"http://127.0.0.1:{port}/good.png", RULES).format == "PNG"


# --- https: SNI and certificate checked against the URL's host, not the address ----------


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "images.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    sni = []
    server_side.sni_callback = lambda sock, server_name, ctx: sni.append(server_name)
    server, port = serve(server_side)
    client_side = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    yield port, client_side, sni
    server.shutdown()
    server.server_close()


def test_https_sends_the_url_host_as_sni_and_checks_its_certificate(tls, log):
    port, client_side, sni = tls
    fetcher = ImageFetcher(
        resolve=lambda h, p: ["127.0.0.1"],
        allow_hosts=[f"images.test:{port}"],
        ssl_context=client_side,
        **TIMEOUTS,
    )
    got = fetcher.fetch(f"https://images.test:{port}/good.png", RULES)
    assert got.format == "PNG"
    assert sni[-1] == "images.test"
    assert log[-1] == ("/good.png", f"images.test:{port}")


def test_https_certificate_for_another_host_is_input_download_failed(tls):
    port, client_side, _ = tls
    fetcher = ImageFetcher(
        resolve=lambda h, p: ["127.0.0.1"],
        allow_hosts=[f"other.test:{port}"],
        ssl_context=client_side,
        **TIMEOUTS,
    )
    error = download_failed(lambda: fetcher.fetch(f"https://other.test:{port}/good.png", RULES))
    assert "CERTIFICATE_VERIFY_FAILED" in error.reason or "certificate" in error.reason.lower()


# --- image content -----------------------------------------------------------------------


def test_truncated_image_is_invalid_parameter(guarded, port):
    error = invalid_parameter(lambda: guarded.fetch(f"http://127.0.0.1:{port}/truncated.png", RULES))
    assert "truncated" in error.message


def test_non_image_is_invalid_parameter(guarded, port):
    error = invalid_parameter(lambda: guarded.fetch(f"http://127.0.0.1:{port}/not-an-image.png", RULES))
    assert "not a supported image" in error.message


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_is_refused_from_its_header(guarded, port):
    error = invalid_parameter(lambda: guarded.fetch(f"http://127.0.0.1:{port}/big.png", RULES))
    assert "12000*12000" in error.message
    error = invalid_parameter(lambda: guarded.fetch(f"http://127.0.0.1:{port}/bomb.png", RULES))
    assert "pixels" in error.message


def test_decompression_bomb_past_lenient_rules_meets_pillows_guard():
    lenient = ImageRules(min_side=1, max_side=100_000, max_pixels=10**10)
    data = "data:image/png;base64," + base64.b64encode(png_declaring(50000, 50000)).decode()
    invalid_parameter(lambda: ImageFetcher().fetch(data, lenient))


def test_too_many_pixels_is_invalid_parameter():
    rules = ImageRules(min_side=16, max_side=4096, max_pixels=1000)
    error = invalid_parameter(lambda: ImageFetcher().fetch(data_uri(FILES["/good.png"]), rules))
    assert "1000 pixels" in error.message


@pytest.mark.parametrize("rules", [ImageRules(min_side=384, max_side=3072), ImageRules(min_side=1, max_side=50)])
def test_side_outside_the_model_bounds_is_invalid_parameter(rules):
    error = invalid_parameter(lambda: ImageFetcher().fetch(data_uri(FILES["/good.png"]), rules))
    assert f"between {rules.min_side} and {rules.max_side}" in error.message


def test_format_the_model_does_not_take_is_invalid_parameter():
    wan26 = ImageRules(min_side=16, max_side=8000, formats=("JPEG", "PNG", "BMP", "WEBP"))
    error = invalid_parameter(lambda: ImageFetcher().fetch(data_uri(GIF), wan26))
    assert "GIF" in error.message


def test_file_over_max_bytes_is_invalid_parameter():
    small = ImageRules(min_side=16, max_side=4096, max_bytes=100)
    invalid_parameter(lambda: ImageFetcher().fetch(data_uri(FILES["/good.jpg"]), small))


def test_transparency_is_flattened_onto_white_and_reported():
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    got = ImageFetcher().fetch(data_uri(encode(rgba, "PNG")), RULES)
    assert got.has_alpha and got.image.mode == "RGB" and got.image.getpixel((0, 0)) == (255, 255, 255)
    kept = ImageFetcher().fetch(data_uri(encode(rgba, "PNG")), RULES, mode="RGBA")
    assert kept.image.getpixel((0, 0)) == (0, 0, 0, 0)


def test_mask_mode_is_greyscale():
    mask = Image.new("RGB", (32, 32), (255, 255, 255))
    got = ImageFetcher().fetch(data_uri(encode(mask, "PNG")), RULES, mode="L")
    assert got.image.mode == "L" and got.image.getpixel((0, 0)) == 255


def test_16_bit_greyscale_is_scaled_to_8_bits():
    deep = Image.new("I;16", (32, 32), 65535)
    got = ImageFetcher().fetch(data_uri(encode(deep, "PNG")), RULES)
    assert got.image.getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    got = ImageFetcher().fetch(data_uri(encode(GOOD, "JPEG", exif=exif)), RULES)
    assert (got.width, got.height) == (48, 64)


# --- data URIs, oss:// and refused urls --------------------------------------------------


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_data_uri_is_decoded():
    got = ImageFetcher().fetch(data_uri(FILES["/good.jpg"], "image/jpeg"), RULES)
    assert (got.format, got.width) == ("JPEG", 64)


def test_data_uri_mime_type_is_not_trusted_the_content_is_sniffed():
    assert ImageFetcher().fetch(data_uri(FILES["/good.png"], "image/jpeg"), RULES).format == "PNG"


def test_data_uri_wrapped_over_lines_is_accepted():
    encoded = base64.encodebytes(FILES["/good.png"]).decode()  # 76-column lines
    assert ImageFetcher().fetch(f"data:image/png;base64,{encoded}", RULES).format == "PNG"


@pytest.mark.parametrize("payload", ["@@@@not base64@@@@", "iVBORw0KGgo", ""])
def test_corrupt_base64_is_invalid_parameter(payload):
    error = invalid_parameter(lambda: ImageFetcher().fetch(f"data:image/png;base64,{payload}", RULES))
    assert "base64" in error.message


def test_data_uri_without_base64_is_invalid_parameter():
    error = invalid_parameter(lambda: ImageFetcher().fetch("data:image/png,abc", RULES))
    assert "data:{mime_type};base64,{base64_data}" in error.message


def test_data_uri_over_10_mb_is_refused_before_decoding():
    invalid_parameter(lambda: ImageFetcher().fetch("data:image/png;base64," + "A" * (14 * MB), RULES))


def test_oss_url_is_resolved_by_the_upload_store(tmp_path):
    stored = tmp_path / "cat.png"
    stored.write_bytes(FILES["/good.png"])
    store = {"oss://bucket/cat.png": stored, "oss://bucket/dog.jpg": FILES["/good.jpg"]}
    fetcher = ImageFetcher(resolve_oss=store.get)
    assert fetcher.fetch("oss://bucket/cat.png", RULES).format == "PNG"
    assert fetcher.fetch("oss://bucket/dog.jpg", RULES).format == "JPEG"
    download_failed(lambda: fetcher.fetch("oss://bucket/missing.png", RULES))
    download_failed(lambda: ImageFetcher(resolve_oss=store.__getitem__).fetch("oss://x", RULES))


def test_oss_url_without_an_upload_store_is_input_download_failed():
    download_failed(lambda: ImageFetcher().fetch("oss://bucket/cat.png", RULES))


def test_file_url_is_invalid_parameter(tmp_path):
    path = tmp_path / "cat.png"
    path.write_bytes(FILES["/good.png"])
    error = invalid_parameter(lambda: ImageFetcher(allow_private=True).fetch(f"file://{path}", RULES))
    assert "file://" in error.message


@pytest.mark.parametrize(
    "url", ["", "   ", None, "ftp://example.com/a.png", "gopher://x", "cat.png", "//example.com/a"]
)
def test_empty_or_unsupported_url_is_invalid_parameter(url):
    invalid_parameter(lambda: ImageFetcher().fetch(url, RULES))


@pytest.mark.parametrize("url", ["http://", "http:///a.png", "http://exa mple.com/", "http://example.com:99999/"])
def test_malformed_http_url_is_input_download_failed(url):
    download_failed(lambda: ImageFetcher(**TIMEOUTS).fetch(url, RULES))

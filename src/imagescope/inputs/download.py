"""Downloading an http(s) input URL: guarded addresses, bounded redirects, time and size.

Every hop resolves its host name once, checks every address it got, and connects to a checked
address while sending the URL's own host name (``Host`` header, TLS SNI and certificate check).
"""

from __future__ import annotations

import functools
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from imagescope.inputs.addresses import HostAllowlist, Resolver, is_public_address, parse_address
from imagescope.inputs.errors import InputDownloadFailed

_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Built once, on the first download: it loads the CA bundle; sharing it is thread-safe.
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class Hop:
    """One request of a download: the URL as the client wrote it, split for connecting."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA), lower case, IPv6 without brackets
    port: int
    target: str  # path and query

    @classmethod
    def parse(cls, url: str) -> Hop:
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            port = parts.port
            host = (parts.hostname or "").encode("idna").decode("ascii")
        except (ValueError, UnicodeError) as exc:
            raise InputDownloadFailed(f"malformed url {url!r}: {exc}") from None
        if scheme not in _DEFAULT_PORTS:
            raise InputDownloadFailed(f"scheme {scheme!r} cannot be downloaded: {url!r}")
        if not host or not all(c.isalnum() or c in ".-_:" for c in host):
            raise InputDownloadFailed(f"no valid host in {url!r}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(url, scheme, host, port or _DEFAULT_PORTS[scheme], target)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def url_for(self, address: str) -> str:
        literal = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{literal}:{self.port}{self.target}"


class Downloader:
    def __init__(
        self,
        *,
        allow_private: bool,
        allow_hosts: HostAllowlist,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float,
        max_redirects: int,
        resolve: Resolver,
        ssl_context: ssl.SSLContext | None,
    ):
        self.allow_private = allow_private
        self.allow_hosts = allow_hosts
        self.timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self.resolve = resolve
        self.ssl_context = ssl_context

    def get(self, url: str, max_bytes: int) -> bytes:
        deadline = time.monotonic() + self.total_timeout
        # No connection reuse: a pooled connection is keyed by address and could carry a
        # request for another host name than the one its certificate was checked for.
        with httpx.Client(
            verify=self.ssl_context or _default_ssl_context(),
            trust_env=False,  # a proxy from the environment would connect for us, unchecked
            follow_redirects=False,
            timeout=self.timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            for _ in range(self.max_redirects + 1):
                hop = Hop.parse(url)
                body, location = self._request(client, hop, max_bytes, deadline)
                if location is None:
                    return body
                url = urljoin(hop.url, location)
        raise InputDownloadFailed(f"more than {self.max_redirects} redirects")

    def _addresses(self, hop: Hop) -> list[str]:
        try:
            addresses = self.resolve(hop.host, hop.port)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise InputDownloadFailed(f"cannot resolve {hop.host}: {exc}") from None
        if not addresses:
            raise InputDownloadFailed(f"{hop.host} has no address")
        if self.allow_private or (hop.host, hop.port) in self.allow_hosts:
            return addresses
        for address in addresses:
            try:
                public = is_public_address(parse_address(address))
            except ValueError:
                public = False
            if not public:
                raise InputDownloadFailed(f"address {address} of {hop.host} is not allowed (not a public address)")
        return addresses

    def _request(self, client: httpx.Client, hop: Hop, max_bytes: int, deadline: float) -> tuple[bytes, str | None]:
        addresses = self._addresses(hop)
        headers = {
            "Host": hop.host_header,
            "User-Agent": "imagescope",
            "Accept": "image/*",
            "Accept-Encoding": "identity",
        }
        extensions = {"sni_hostname": hop.host} if hop.scheme == "https" else {}
        failures = []
        for address in addresses:
            if time.monotonic() > deadline:
                raise InputDownloadFailed(f"{hop.url}: out of time", timed_out=True)
            try:
                with client.stream("GET", hop.url_for(address), headers=headers, extensions=extensions) as response:
                    return _read_response(response, hop, max_bytes, deadline)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failures.append(f"{address}: {exc!r}")  # try the host's next address
            except httpx.TimeoutException as exc:
                raise InputDownloadFailed(f"{hop.url}: {exc!r}", timed_out=True) from None
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:  # InvalidURL: Location
                raise InputDownloadFailed(f"{hop.url}: {exc!r}") from None
        raise InputDownloadFailed(f"cannot connect to {hop.url}: {'; '.join(failures)}")


def _read_response(response: httpx.Response, hop: Hop, max_bytes: int, deadline: float) -> tuple[bytes, str | None]:
    location = response.headers.get("Location")
    if response.is_redirect and location:
        return b"", location
    if response.status_code != 200:
        raise InputDownloadFailed(f"{hop.url}: HTTP {response.status_code}")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise InputDownloadFailed(f"{hop.url}: Content-Length {declared} > {max_bytes}")
    body = bytearray()
    for chunk in response.iter_bytes():  # as they arrive, so the checks run on every read
        body += chunk
        if len(body) > max_bytes:
            raise InputDownloadFailed(f"{hop.url}: more than {max_bytes} bytes")
        # The read timeout bounds each read; this bounds a server that drips bytes slowly.
        if time.monotonic() > deadline:
            raise InputDownloadFailed(f"{hop.url}: download out of time", timed_out=True)
    return bytes(body), None

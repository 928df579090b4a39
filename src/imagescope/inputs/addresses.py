"""Which network addresses an input URL may reach (the SSRF guard).

A request must only ever reach public unicast addresses: never loopback, private, link-local
(cloud metadata at 169.254.169.254), CGNAT, multicast, reserved or unspecified ones, and not
such an address dressed as IPv6 (IPv4-mapped, 6to4, NAT64). The check is made on the addresses
the host name resolves to, and the connection then goes to one of those very addresses, so a
DNS answer that changes between check and connect (rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# (host, port) -> the addresses to connect to, in preference order.
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        embedded = [address.sixtofour]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(v4 is not None and not is_public_address(v4) for v4 in embedded):
            return False
        if address.is_site_local:
            return False
    # Python 3.11's is_global still lets multicast, IPv4-compatible (::a.b.c.d) and site-local
    # addresses through, hence the extra tests.
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def parse_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id


class HostAllowlist:
    """Exact ``host:port`` pairs that skip the guard (a trusted image host on the LAN, or the
    local server of a test). The pair matches the URL as written, per redirect hop: allowing
    ``127.0.0.1:8080`` allows neither ``localhost:8080`` nor ``127.0.0.1:9090``."""

    def __init__(self, entries: Iterable[str] = ()):
        self._pairs = frozenset(_parse_entry(entry) for entry in entries)

    def __contains__(self, pair: tuple[str, int]) -> bool:
        return (pair[0].lower(), pair[1]) in self._pairs

    def __bool__(self) -> bool:
        return bool(self._pairs)


def _parse_entry(entry: str) -> tuple[str, int]:
    parts = urlsplit("//" + entry.strip())
    if not parts.hostname or parts.port is None:
        raise ValueError(f"allowlist entry {entry!r} is not host:port")
    return parts.hostname.lower(), parts.port

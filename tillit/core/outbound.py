"""The guard on every address tillit itself connects to (a partner's endpoint): server-side
request forgery must not turn tillit into a way into the network it runs in.

An outbound address must be ``https`` and its host must resolve only to public addresses: not
loopback, not private (RFC 1918, unique local), not link-local (the cloud metadata service at
169.254.169.254), not multicast, reserved or unspecified. The check returns the addresses it
approved so that the caller connects to one of *them* (a second lookup could answer
differently: DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tillit.core.errors import ValidationError

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class OutboundAddress:
    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: str) -> bool:
    """Whether an IP address is one on the public internet."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_outbound_url(
    url: str, *, resolve: Resolver = _resolve, field: str = "endpoint", allow_internal: bool = False
) -> OutboundAddress:
    """Approve ``url`` for an outbound connection, or raise ``ValidationError`` naming why.
    ``allow_internal`` lifts only the public-address rule (a test server on loopback)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 443
    except ValueError:
        raise ValidationError("is not a valid URL", field=field) from None
    if parts.scheme != "https":
        raise ValidationError("must be an https:// address", field=field)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationError("has no host name", field=field)
    if parts.username or parts.password:
        raise ValidationError("must not carry a user name or password", field=field)
    try:
        literal: str | None = str(ipaddress.ip_address(host))
    except ValueError:
        literal = None
    addresses = [literal] if literal else resolve(host, port)
    if not addresses:
        raise ValidationError("its host name does not resolve", field=field)
    refused = [] if allow_internal else [a for a in addresses if not is_public_address(a)]
    if refused:
        raise ValidationError(
            "must not point to a loopback, private, link-local or otherwise internal address", field=field
        )
    return OutboundAddress(url=url.strip(), host=host, port=port, addresses=tuple(addresses))

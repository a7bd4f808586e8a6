"""Where a webhook may deliver: the SSRF guard, checked when a webhook is created and again at
every attempt, against every address its host resolves to then (a name that resolved to a
public address at creation may resolve to a private one later: DNS rebinding). An attempt
connects to the address it checked, never to a second lookup's answer.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})


class TargetRefused(ValueError):
    """A URL a webhook may not deliver to; the message says why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its host name, and the address an attempt connects to."""

    url: SplitResult
    host: str
    address: str
    port: int

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name (the Host header and
        TLS's server name stay the name's)."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return self.url._replace(netloc=f"{address}:{self.port}").geturl()


def parse_url(url: str) -> SplitResult:
    """`url` split, if it is an absolute http(s) URL with a host, a port in 1-65535 if any, no
    credentials, and no whitespace or control character."""
    # urlsplit silently drops tabs and line breaks: the URL checked would not be the URL stored
    # (and sent in a request line), so they and every other unprintable are refused here.
    if any(char.isspace() or not char.isprintable() for char in url):
        raise TargetRefused("the URL may not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range
    except ValueError as error:
        raise TargetRefused(f"not a URL: {error}") from error
    if port == 0:
        raise TargetRefused("the URL's port must be between 1 and 65535")
    if parts.scheme not in ALLOWED_SCHEMES:
        raise TargetRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL may not carry credentials (user:password@)")
    if parts.fragment:
        raise TargetRefused("the URL may not have a #fragment")
    return parts


def _refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "not a unicast internet"
    return None


def resolve(url: str, *, allow_private: bool) -> Target:
    """The target of `url`: its host resolved now, every address checked; TargetRefused for a
    URL that is not http(s), a host that does not resolve, or (unless `allow_private`) any
    address that is private, loopback, link-local or otherwise not a public unicast one."""
    parts = parse_url(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"the host {host!r} does not resolve: {error}") from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise TargetRefused(f"the host {host!r} does not resolve")
    if not allow_private:
        for text in addresses:
            why = _refused_address(ipaddress.ip_address(text.partition("%")[0]))
            if why is not None:
                raise TargetRefused(
                    f"the host {host!r} resolves to {text}, a {why} address; webhooks may "
                    "deliver there only with LRHUB_WEBHOOK_ALLOW_PRIVATE=true"
                )
    return Target(url=parts, host=host, address=addresses[0], port=port)

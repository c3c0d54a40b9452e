"""The client's address, and how far ``X-Forwarded-For`` is believed.

Trust model. The service sees one address for certain: the TCP peer. When
proxies stand in front of it, that peer is the last proxy, and the client's
own address is known only from what the proxies wrote into
``X-Forwarded-For``. Each proxy appends the address it received the request
from, so with ``trusted_proxies: N`` (``policies/access.yaml``) the last N
entries of the header were written by our own proxies, and the N-th entry
from the right is the address the outermost proxy saw: the client. Anything
to the left of it came from the client and is ignored, however plausible.

The header is not believed at all when

* ``trusted_proxies`` is 0 (the default: nothing stands in front);
* it holds fewer than N entries: the request did not pass every proxy, so
  someone reached the service past them and wrote the header themselves;
* one of the last N entries is not an IP address: a proxy that writes
  garbage is misconfigured, and a guess would be worse than the peer.

In each of those cases the peer is the client. The count is the whole
configuration, so it must match the deployment: a count higher than the
real number of proxies lets clients choose their address.

Addresses are normalized (``::ffff:10.0.0.1`` is ``10.0.0.1``, IPv6 is
compressed, a port or brackets are dropped) so that allowlists, rate-limit
keys and the audit see one spelling of each address.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from typing import Any

UNKNOWN = "unknown"
"""The address of a peer that has none (a UNIX socket)."""

FORWARDED_FOR = "x-forwarded-for"
MAX_ENTRY_LENGTH = 64
"""No address with a port and brackets is longer; longer entries are garbage."""
PARSED_ADDRESSES = 4096
"""Texts whose parse is remembered, the least recently used forgotten first."""


@functools.lru_cache(maxsize=PARSED_ADDRESSES)
def parse_ip(text: str) -> str | None:
    """``text`` as a normalized IP address, or ``None`` if it is not one.

    Accepts ``1.2.3.4``, ``1.2.3.4:8080``, ``2001:db8::1`` and
    ``[2001:db8::1]:8080``; a zone index (``fe80::1%eth0``) is dropped.
    Answers are remembered: every request parses its peer's address, and
    ``ipaddress`` takes 10-20 us for it.
    """
    candidate = text.strip()
    if not candidate or len(candidate) > MAX_ENTRY_LENGTH:
        return None

    candidate = _without_port(candidate)
    try:
        address = ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return None

    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def _without_port(candidate: str) -> str:
    if candidate.startswith("["):
        host, bracket, _ = candidate[1:].partition("]")
        return host if bracket else candidate
    if candidate.count(":") == 1:
        return candidate.split(":", 1)[0]  # an IPv4 address with a port
    return candidate


def forwarded_entries(headers: Sequence[str]) -> list[str]:
    """The entries of every ``X-Forwarded-For`` line, in order."""
    return [entry.strip() for line in headers for entry in line.split(",")]


def client_address(
    peer: str, forwarded_for: Sequence[str], trusted_proxies: int
) -> str:
    """The client's address behind ``trusted_proxies`` proxies.

    ``peer`` is the TCP peer, ``forwarded_for`` the raw ``X-Forwarded-For``
    header lines. See the module docstring for when the header is believed.
    """
    own = parse_ip(peer) or (peer or UNKNOWN)
    if trusted_proxies <= 0 or not forwarded_for:
        return own

    entries = forwarded_entries(forwarded_for)
    if len(entries) < trusted_proxies:
        return own

    written_by_proxies = entries[-trusted_proxies:]
    addresses = [parse_ip(entry) for entry in written_by_proxies]
    if any(address is None for address in addresses):
        return own
    return addresses[0] or own


def request_client_ip(request: Any, trusted_proxies: int) -> str:
    """The client address of a Sanic request, computed once per request."""
    known: str | None = getattr(request.ctx, "client_ip", None)
    if known is not None:
        return known

    lines = request.headers.getall(FORWARDED_FOR, [])
    address = client_address(request.ip, lines, trusted_proxies)
    request.ctx.client_ip = address
    return address

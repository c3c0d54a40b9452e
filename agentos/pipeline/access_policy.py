"""``policies/access.yaml``: from where the admin surface may be reached.

The file holds four things::

    trusted_proxies: 1            # proxies in front; see client_ip
    admin_allowlist:              # every admin request must come from here
      - 10.0.0.0/8
      - 2001:db8::/32
    action_ip_rules:              # narrower lists for some actions (globs)
      "system.*": [10.1.0.0/16]
    lockout:                      # failed authentications; see lockout
      max_failures: 5
      window_seconds: 900
      lock_seconds: 900

An address passes the allowlist when one of its networks holds it; an
empty allowlist lets nobody in. An action whose name matches one or more
``action_ip_rules`` globs must also pass every matching list. A single
address (``10.0.0.5``) is a network of one; a network with host bits set
(``10.0.0.5/8``) is refused, since it usually means another network.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentos.errors import ConfigError

ACCESS_FILE = "access.yaml"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> Network:
    """A network in CIDR notation (or a single address), strictly."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a network in CIDR notation: {exc}") from None


def _networks(values: Any) -> tuple[Network, ...]:
    if not isinstance(values, list | tuple):
        raise ValueError("must be a list of networks in CIDR notation")
    return tuple(parse_network(str(value)) for value in values)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class LockoutPolicy(_Strict):
    """How many failed authentications lock an address or subject, for how long."""

    max_failures: int = Field(default=5, ge=1, le=10_000)
    window_seconds: float = Field(default=900, gt=0, le=86_400)
    lock_seconds: float = Field(default=900, gt=0, le=86_400)


class AccessPolicy(_Strict):
    """The contents of ``access.yaml``."""

    trusted_proxies: int = Field(default=0, ge=0, le=16)
    admin_allowlist: tuple[Network, ...]
    action_ip_rules: dict[str, tuple[Network, ...]] = Field(default_factory=dict)
    lockout: LockoutPolicy = LockoutPolicy()

    @field_validator("admin_allowlist", mode="before")
    @classmethod
    def _allowlist(cls, value: Any) -> tuple[Network, ...]:
        return _networks(value)

    @field_validator("action_ip_rules", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> dict[str, tuple[Network, ...]]:
        if not isinstance(value, dict):
            raise ValueError("must map action globs to lists of networks")
        return {str(glob): _networks(networks) for glob, networks in value.items()}

    def rules_for(self, action: str) -> list[tuple[str, tuple[Network, ...]]]:
        """The ``action_ip_rules`` entries whose glob matches ``action``."""
        return [
            (glob, networks)
            for glob, networks in self.action_ip_rules.items()
            if fnmatch.fnmatchcase(action, glob)
        ]


def contains(networks: tuple[Network, ...], address: str) -> Network | None:
    """The first of ``networks`` that holds ``address``, or ``None``.

    An address that does not parse (``unknown``) is in no network.
    """
    ip = _parsed(address)
    if ip is None:
        return None
    for network in networks:
        if ip.version == network.version and ip in network:
            return network
    return None


@functools.lru_cache(maxsize=4096)
def _parsed(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Every admin call asks about one of a few addresses: parse each once.
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def load_access_policy(directory: Path) -> AccessPolicy:
    """Read ``access.yaml`` of ``directory``; ``ConfigError`` names each mistake."""
    path = directory / ACCESS_FILE
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path} cannot be read as YAML: {exc}") from None
    return parse_access_policy(document, str(path))


def parse_access_policy(document: Any, shown: str = ACCESS_FILE) -> AccessPolicy:
    """The policy in an already parsed ``document``."""
    try:
        return AccessPolicy.model_validate(document)
    except ValidationError as exc:
        lines = [f"{shown} has mistakes:"]
        for error in exc.errors(include_url=False):
            pointer = "/" + "/".join(str(part) for part in error["loc"])
            lines.append(f"  {pointer}: {error['msg']}")
        raise ConfigError("\n".join(lines)) from None

"""The string formats a payload may declare, checked one way everywhere.

The JSON Schema validator (used for the declarations' own examples and
defaults, and by the lint) and the generated pydantic models (used for
requests) must accept the same strings, or an example that lints clean would
fail at run time. So both call these functions: ``FORMAT_CHECKER`` hands them
to ``jsonschema``, and ``agentos.registry.models`` wraps them as validators.

The checks are deliberately plain. ``email`` asks for one ``@`` with text on
both sides and a dot in the domain, not RFC 5322: mail delivery is the only
real test of an address. ``date-time`` is RFC 3339 with a required offset.
``cidr`` is an IPv4 or IPv6 network whose host bits are zero.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime

from jsonschema import FormatChecker

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?"
    r"(?:[Zz]|[+-](\d{2}):(\d{2}))",
    re.ASCII,
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    """``8-4-4-4-12`` hexadecimal digits, any version."""
    return bool(_UUID.fullmatch(value))


def is_date_time(value: str) -> bool:
    """An RFC 3339 timestamp with its offset (``2026-12-03T16:41:50Z``)."""
    match = _DATE_TIME.fullmatch(value)
    if not match:
        return False
    year, month, day, hour, minute, second, offset_hour, offset_minute = (
        int(part or 0) for part in match.groups()
    )
    try:
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60 and offset_hour <= 23 and offset_minute <= 59


def is_email(value: str) -> bool:
    """Something, ``@``, a domain with a dot; no spaces."""
    return bool(_EMAIL.fullmatch(value))


def is_ipv4(value: str) -> bool:
    """A dotted-quad IPv4 address."""
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def is_ipv6(value: str) -> bool:
    """An IPv6 address, without a zone index."""
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return "%" not in value


def is_cidr(value: str) -> bool:
    """A network in CIDR notation (``10.0.0.0/8``, ``2001:db8::/32``)."""
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


FORMATS: dict[str, Callable[[str], bool]] = {
    "uuid": is_uuid,
    "date-time": is_date_time,
    "email": is_email,
    "ipv4": is_ipv4,
    "ipv6": is_ipv6,
    "cidr": is_cidr,
}
"""Format name -> check, for every format the declaration subset allows."""


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    for name, check in FORMATS.items():
        checker.checks(name)(_for_strings(check))
    checker.checks("regex", raises=re.error)(_compiles)
    return checker


def _for_strings(check: Callable[[str], bool]) -> Callable[[object], bool]:
    # JSON Schema formats constrain strings only; other types are the
    # business of the ``type`` keyword.
    return lambda value: not isinstance(value, str) or check(value)


def _compiles(value: object) -> bool:
    if isinstance(value, str):
        re.compile(value)
    return True


FORMAT_CHECKER = _format_checker()
"""A ``jsonschema`` format checker that knows exactly ``FORMATS`` (and regex)."""

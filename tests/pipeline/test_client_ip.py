"""The client address: X-Forwarded-For believed only as far as our proxies wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos.pipeline.client_ip import client_address, parse_ip
from tests.fixtures.app import AppMaker
from tests.fixtures.policies import write_policies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("10.1.2.3", "10.1.2.3", id="ipv4"),
        pytest.param(" 10.1.2.3 ", "10.1.2.3", id="spaces"),
        pytest.param("10.1.2.3:8443", "10.1.2.3", id="ipv4-with-port"),
        pytest.param("2001:DB8:0:0::1", "2001:db8::1", id="ipv6-compressed"),
        pytest.param("[2001:db8::1]:443", "2001:db8::1", id="ipv6-bracketed-port"),
        pytest.param("::ffff:192.0.2.7", "192.0.2.7", id="ipv4-mapped"),
        pytest.param("fe80::1%eth0", "fe80::1", id="zone-index"),
        pytest.param("unknown", None, id="word"),
        pytest.param("", None, id="empty"),
        pytest.param("999.1.1.1", None, id="octet-too-large"),
        pytest.param("1.2.3.4; DROP TABLE users", None, id="sql"),
        pytest.param("1" * 70, None, id="too-long"),
        pytest.param("[2001:db8::1", None, id="unclosed-bracket"),
    ],
)
def test_parse_ip_normalizes_addresses_and_rejects_garbage(
    text: str, expected: str | None
) -> None:
    """Every spelling of an address becomes one; anything else is None."""

    assert parse_ip(text) == expected


@pytest.mark.parametrize(
    ("forwarded", "proxies", "expected"),
    [
        pytest.param([], 0, "198.51.100.9", id="no-header"),
        pytest.param(["203.0.113.5"], 0, "198.51.100.9", id="no-proxy-trusted"),
        pytest.param(["203.0.113.5"], 1, "203.0.113.5", id="one-proxy"),
        pytest.param(
            ["6.6.6.6, 203.0.113.5"], 1, "203.0.113.5", id="forged-entry-left-of-proxy"
        ),
        pytest.param(
            ["6.6.6.6, 203.0.113.5, 10.0.0.2"], 2, "203.0.113.5", id="two-proxies"
        ),
        pytest.param(
            ["6.6.6.6", "203.0.113.5, 10.0.0.2"],
            2,
            "203.0.113.5",
            id="header-lines-joined",
        ),
        pytest.param(
            ["203.0.113.5"], 2, "198.51.100.9", id="fewer-entries-than-proxies"
        ),
        pytest.param(["garbage"], 1, "198.51.100.9", id="garbage-entry"),
        pytest.param(
            ["203.0.113.5, garbage"], 2, "198.51.100.9", id="garbage-proxy-entry"
        ),
        pytest.param(
            ["garbage, 203.0.113.5"], 1, "203.0.113.5", id="garbage-left-ignored"
        ),
        pytest.param([","], 1, "198.51.100.9", id="only-commas"),
        pytest.param(["[2001:db8::7]:1234"], 1, "2001:db8::7", id="ipv6-entry"),
    ],
)
def test_client_address_believes_only_what_trusted_proxies_wrote(
    forwarded: list[str], proxies: int, expected: str
) -> None:
    """The N-th entry from the right with N proxies; the peer when in doubt."""

    assert client_address("198.51.100.9", forwarded, proxies) == expected


def test_a_peer_without_an_address_is_unknown() -> None:
    """A UNIX-socket peer has no address; the client is then 'unknown'."""

    assert client_address("", [], 0) == "unknown"


async def test_forged_forwarded_for_is_ignored_without_trusted_proxies(
    make_app: AppMaker,
) -> None:
    """Two forged addresses from one peer spend the same public allowance."""
    app = await make_app()

    first = await app.client.get("/", headers={"X-Forwarded-For": "203.0.113.1"})
    second = await app.client.get("/", headers={"X-Forwarded-For": "203.0.113.2"})

    assert first.headers["RateLimit"] == '"public";r=11;t=60'
    assert second.headers["RateLimit"] == '"public";r=10;t=60'


async def test_forwarded_for_of_a_trusted_proxy_names_the_client(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """Behind one proxy, each forwarded client has its own public allowance."""
    policies = write_policies(tmp_path, access={"trusted_proxies": 1})
    app = await make_app(policies_dir=policies)

    first = await app.client.get("/", headers={"X-Forwarded-For": "203.0.113.1"})
    again = await app.client.get("/", headers={"X-Forwarded-For": "203.0.113.1"})
    other = await app.client.get(
        "/", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.2"}
    )

    assert first.headers["RateLimit"] == '"public";r=11;t=60'
    assert again.headers["RateLimit"] == '"public";r=10;t=60'
    assert other.headers["RateLimit"] == '"public";r=11;t=60'

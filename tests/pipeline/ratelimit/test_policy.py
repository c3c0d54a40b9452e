"""policies/rate_limits.yaml: the shipped classes and tiers, and bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.errors import ConfigError
from agentos.pipeline.ratelimit.algorithms import Algorithm
from agentos.pipeline.ratelimit.policy import Per, load_rate_limits, parse_rate_limits

REPO = Path(__file__).resolve().parents[3]


def shipped() -> dict[str, Any]:
    """The shipped file, parsed, for a test to spoil."""
    document: dict[str, Any] = yaml.safe_load(
        (REPO / "policies/rate_limits.yaml").read_text()
    )
    return document


def test_shipped_classes_allow_their_rate_per_minute_without_burst() -> None:
    """standard 50/min, high_risk 10/min, critical 5/min, sliding window, no burst."""

    policy = load_rate_limits(REPO / "policies")

    got = {
        name: (q.limit, q.window_seconds, q.burst) for name, q in policy.classes.items()
    }
    assert got == {
        "standard": (50, 60, 0),
        "high_risk": (10, 60, 0),
        "critical": (5, 60, 0),
    }
    assert {q.algorithm for q in policy.classes.values()} == {Algorithm.SLIDING_WINDOW}


def test_shipped_tiers_carry_a_burst_of_twice_the_rate_for_ten_seconds() -> None:
    """public 10/min per IP, user 100, admin_read 500, admin_action 50 per user."""

    policy = load_rate_limits(REPO / "policies")

    got = {
        name: (tier.per, tier.quota.limit, tier.quota.capacity)
        for name, tier in policy.tiers.items()
    }
    assert got == {
        "public": (Per.IP, 10, 12),
        "user": (Per.USER, 100, 117),
        "admin_read": (Per.USER, 500, 583),
        "admin_action": (Per.USER, 50, 58),
    }


def test_a_class_may_choose_its_algorithm() -> None:
    """A class naming token_bucket gets one."""
    document = shipped()
    document["rate_classes"]["critical"]["algorithm"] = "token_bucket"

    policy = parse_rate_limits(document)

    assert policy.rate_class("critical").algorithm is Algorithm.TOKEN_BUCKET


def test_a_missing_tier_is_named() -> None:
    """The service applies four tiers by name; a file without one is refused."""
    document = shipped()
    del document["tiers"]["admin_read"]

    with pytest.raises(ConfigError, match="admin_read"):
        parse_rate_limits(document)


@pytest.mark.parametrize(
    ("where", "value", "pointer"),
    [
        pytest.param(
            ("rate_classes", "standard", "algorithm"),
            "leaky",
            "/rate_classes/standard/algorithm",
            id="unknown-algorithm",
        ),
        pytest.param(
            ("rate_classes", "standard", "limit"),
            0,
            "/rate_classes/standard/limit",
            id="zero-limit",
        ),
        pytest.param(
            ("tiers", "user", "per"), "team", "/tiers/user/per", id="unknown-per"
        ),
        pytest.param(
            ("tiers", "user", "burst"),
            {"factor": 0.5, "seconds": 10},
            "/tiers/user/burst/factor",
            id="burst-below-one",
        ),
        pytest.param(
            ("tiers", "user", "burst_seconds"),
            10,
            "/tiers/user/burst_seconds",
            id="unknown-key",
        ),
    ],
)
def test_each_mistake_is_reported_with_its_pointer(
    where: tuple[str, ...], value: Any, pointer: str
) -> None:
    """A bad value names where it stands in the file."""
    document = shipped()
    parent = document
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value

    with pytest.raises(ConfigError) as caught:
        parse_rate_limits(document, "policies/rate_limits.yaml")

    assert pointer in str(caught.value)
    assert "policies/rate_limits.yaml" in str(caught.value)


def test_a_file_that_is_not_yaml_is_reported(tmp_path: Path) -> None:
    """Unreadable YAML stops the start with the file's name."""
    (tmp_path / "rate_limits.yaml").write_text("tiers: [unclosed\n")

    with pytest.raises(ConfigError, match=r"rate_limits\.yaml"):
        load_rate_limits(tmp_path)

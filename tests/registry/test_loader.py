"""The loader: clean declarations load, and every mistake is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos.registry import RegistryError, lint, load
from agentos.registry.problems import Problem
from agentos.registry.spec import AuditLevel, Idempotency, Mode
from tests.registry.helpers import CLASSES, GADGET_ACTIONS, REPO, actions_tree


def problems_of(tmp_path: Path, files: dict[str, str]) -> list[Problem]:
    """Lint ``files`` against the real policies and the test service."""
    actions, policies = actions_tree(tmp_path, files)
    return lint(actions, policies, CLASSES)


def one_action(body: str, name: str = "gadget.tune") -> str:
    """A file that declares one action ``name`` with ``body`` (YAML, indented 4)."""
    return f"view: Gadgets\nactions:\n  {name}:\n{body}"


TUNE = """\
    summary: Tune a gadget
    rate_class: standard
    target: gadgets.tune
    permission: job.tune
    payload:
      type: object
      required: [gadget_id, level]
      properties:
        gadget_id: {type: string}
        level: {type: integer}
"""


def test_clean_declarations_load_with_the_formats_defaults(tmp_path: Path) -> None:
    """A valid file loads; unstated keys take the documented defaults."""
    actions, policies = actions_tree(tmp_path, {"gadgets.yaml": GADGET_ACTIONS})

    registry = load(actions, policies, CLASSES)

    tune = registry.spec("gadget.tune")
    assert sorted(registry.specs) == ["gadget.tune", "gadget.wipe"]
    assert (tune.view, tune.mode, tune.audit) == (
        "Gadgets",
        Mode.SYNC,
        AuditLevel.REQUEST,
    )
    assert tune.idempotency is Idempotency.OPTIONAL
    assert tune.payload["additionalProperties"] is False
    assert tune.pii_fields == ("/note",)
    assert tune.file == "actions.d/gadgets.yaml" and tune.line == 3


def test_the_real_actions_load_against_their_declared_targets() -> None:
    """actions.d/ and policies/ of the repository load with the real services."""
    from agentos.services.catalog import load_all

    if not {"jobs", "queue"} <= set(load_all()):
        pytest.skip("the jobs and queue services are not in the catalogue yet")
    problems = lint(REPO / "actions.d", REPO / "policies", load_all())

    assert problems == []


def test_a_confirm_action_requires_confirm_true_in_its_payload(tmp_path: Path) -> None:
    """``confirm: true`` adds a required ``confirm`` property fixed to true."""
    actions, policies = actions_tree(tmp_path, {"gadgets.yaml": GADGET_ACTIONS})

    wipe = load(actions, policies, CLASSES).spec("gadget.wipe")

    assert wipe.payload["required"] == ["confirm"]
    assert wipe.payload["properties"]["confirm"]["const"] is True
    assert wipe.parameters == ["zone"]


def test_five_different_mistakes_are_all_reported_with_file_and_pointer(
    tmp_path: Path,
) -> None:
    """Unknown key, dangling target, unknown rate class, bad default, bad example."""
    body = """\
    summary: Tune a gadget
    rate_class: turbo
    target: gadgets.explode
    colour: red
    permission: job.tune
  gadget.other:
    summary: Another
    rate_class: standard
    target: gadgets.anything
    permission: job.other
    payload:
      type: object
      properties:
        level: {type: integer, minimum: 1, default: 0}
    examples:
      - {level: "high"}
"""
    problems = problems_of(tmp_path, {"bad.yaml": one_action(body)})

    found = {(p.pointer, p.line) for p in problems}
    assert found == {
        ("/actions/gadget.tune/rate_class", 5),
        ("/actions/gadget.tune/target", 6),
        ("/actions/gadget.tune/colour", 7),
        ("/actions/gadget.other/payload/properties/level/default", 17),
        ("/actions/gadget.other/examples/0", 19),
    }
    assert all(p.file == "actions.d/bad.yaml" for p in problems)


@pytest.mark.parametrize(
    ("body", "pointer", "words"),
    [
        pytest.param(
            TUNE.replace("target: gadgets.tune", "target: widgets.tune"),
            "/actions/gadget.tune/target",
            "no service 'widgets'",
            id="unknown-service",
        ),
        pytest.param(
            TUNE.replace("target: gadgets.tune", "target: gadgets.helper"),
            "/actions/gadget.tune/target",
            "no operation 'helper'",
            id="not-an-operation",
        ),
        pytest.param(
            TUNE.replace("permission: job.tune", "permission: gizmo.tune"),
            "/actions/gadget.tune/permission",
            "matches none of the permissions",
            id="unknown-permission",
        ),
        pytest.param(
            TUNE.replace(
                "        level: {type: integer}\n",
                "        level: {type: integer}\n        speed: {type: number}\n",
            ),
            "/actions/gadget.tune/payload/properties/speed",
            "not a parameter",
            id="property-without-parameter",
        ),
        pytest.param(
            TUNE.replace("required: [gadget_id, level]", "required: [gadget_id]"),
            "/actions/gadget.tune/payload/required",
            "needs the parameter 'level'",
            id="parameter-not-required",
        ),
        pytest.param(
            TUNE.replace("{type: integer}", "{type: integer, format: uuid}"),
            "/actions/gadget.tune/payload/properties/level/format",
            "does not apply to a schema of type 'integer'",
            id="keyword-outside-type",
        ),
        pytest.param(
            TUNE.replace("{type: integer}", "{type: integer, enum: [1, 2], oneOf: []}"),
            "/actions/gadget.tune/payload/properties/level/oneOf",
            "unknown key 'oneOf'",
            id="keyword-outside-subset",
        ),
        pytest.param(
            TUNE.replace(
                "required: [gadget_id, level]", "required: [gadget_id, level, x]"
            ),
            "/actions/gadget.tune/payload/required",
            "'x' is required but is not one",
            id="required-not-a-property",
        ),
        pytest.param(
            TUNE + "    ownership: {field: note, resource: gadget}\n",
            "/actions/gadget.tune/ownership/field",
            "not a property",
            id="ownership-field",
        ),
        pytest.param(
            TUNE + "    deprecated: {since: 2026-01-01, replacement: gadget.nothing}\n",
            "/actions/gadget.tune/deprecated/replacement",
            "not an action",
            id="dangling-replacement",
        ),
        pytest.param(
            TUNE + "    mode: later\n",
            "/actions/gadget.tune/mode",
            "'later' is not one of",
            id="bad-mode",
        ),
        pytest.param(
            TUNE.replace(
                "gadget_id: {type: string}", "gadget_id: {type: string, pattern: '('}"
            ),
            "/actions/gadget.tune/payload/properties/gadget_id/pattern",
            "regex",
            id="pattern-not-a-regex",
        ),
    ],
)
def test_each_kind_of_mistake_is_reported_where_it_is(
    tmp_path: Path, body: str, pointer: str, words: str
) -> None:
    """Every check names the JSON pointer of the faulty value."""
    problems = problems_of(tmp_path, {"bad.yaml": one_action(body)})

    assert [p.pointer for p in problems] == [pointer], problems
    assert words in problems[0].message
    assert problems[0].action == "gadget.tune"


def test_an_action_declared_in_two_files_is_refused(tmp_path: Path) -> None:
    """Names are unique across the whole folder; the report points at both."""
    files = {"a.yaml": one_action(TUNE), "b.yaml": one_action(TUNE)}

    problems = problems_of(tmp_path, files)

    assert len(problems) == 1
    assert problems[0].file == "actions.d/b.yaml"
    assert "first in actions.d/a.yaml:3" in problems[0].message


def test_a_key_repeated_in_one_mapping_is_refused_with_its_line(tmp_path: Path) -> None:
    """YAML would silently keep the last of two equal keys; the loader objects."""
    text = one_action(TUNE + "    rate_class: critical\n")

    problems = problems_of(tmp_path, {"dup.yaml": text})

    assert [(p.pointer, p.line) for p in problems] == [
        ("/actions/gadget.tune/rate_class", 14)
    ]
    assert "appears twice" in problems[0].message


def test_a_yaml_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    """A file that does not parse says where the parser gave up."""
    problems = problems_of(tmp_path, {"broken.yaml": "actions:\n  a.b: [unclosed\n"})

    assert len(problems) == 1
    assert problems[0].line is not None and "not valid YAML" in problems[0].message


def test_an_action_without_any_view_is_refused(tmp_path: Path) -> None:
    """A view comes from the action or from the file; one of them must say it."""
    text = one_action(TUNE).replace("view: Gadgets\n", "")
    text = text.replace("rate_class: standard", "rate_class: turbo")

    problems = problems_of(tmp_path, {"noview.yaml": text})

    assert [p.message.split(" ")[:2] for p in problems] == [
        ["no", "view:"],
        ["no", "rate"],
    ]


def test_an_empty_file_is_refused_as_not_a_mapping(tmp_path: Path) -> None:
    """A file must hold a mapping with ``actions``."""
    problems = problems_of(tmp_path, {"empty.yaml": "# nothing yet\n"})

    assert [p.message for p in problems] == [
        "the file must hold a mapping at its top level"
    ]


def test_declaring_confirm_by_hand_next_to_confirm_true_is_refused(
    tmp_path: Path,
) -> None:
    """The confirm property is the registry's to add."""
    body = """\
    summary: Wipe
    rate_class: high_risk
    target: gadgets.wipe
    permission: queue.wipe
    confirm: true
    payload:
      type: object
      properties:
        confirm: {type: boolean}
"""
    problems = problems_of(tmp_path, {"wipe.yaml": one_action(body, "gadget.wipe")})

    assert [p.pointer for p in problems] == [
        "/actions/gadget.wipe/payload/properties/confirm"
    ]


def test_names_that_collide_in_openapi_are_refused(tmp_path: Path) -> None:
    """``gadget.do_it`` and ``gadget.do.it`` would both be ``GadgetDoIt``."""
    second = TUNE.replace("permission: job.tune", "permission: job.tune2")
    text = one_action(TUNE, "gadget.do_it") + f"  gadget.do.it:\n{second}"

    problems = problems_of(tmp_path, {"clash.yaml": text})

    assert len(problems) == 1 and "GadgetDoIt" in problems[0].message


def test_missing_policies_and_folders_are_reported(tmp_path: Path) -> None:
    """No roles file and a missing actions folder are mistakes, not empty sets."""
    (tmp_path / "policies").mkdir()

    problems = lint(tmp_path / "nowhere", tmp_path / "policies", CLASSES)

    assert {p.file for p in problems} == {
        str(tmp_path / "nowhere"),
        "policies/roles.yaml",
        "policies/rate_limits.yaml",
    }


def test_the_rate_limits_file_may_carry_keys_the_registry_does_not_know(
    tmp_path: Path,
) -> None:
    """Tiers and algorithms belong to the rate limiter; the registry keeps them."""
    actions, policies = actions_tree(tmp_path, {"gadgets.yaml": GADGET_ACTIONS})
    limits = policies / "rate_limits.yaml"
    limits.write_text(
        limits.read_text().replace(
            "  standard:\n", "  standard:\n    algorithm: gcra\n"
        )
        + "surge_pricing:\n  gold: {multiplier: 2}\n"
    )

    registry = load(actions, policies, CLASSES)

    assert registry.policies.rate_classes["standard"].settings["algorithm"] == "gcra"


def test_the_version_is_a_content_hash_of_actions_and_policies(tmp_path: Path) -> None:
    """Same files, same version; any byte changed in either, a new version."""
    actions, policies = actions_tree(tmp_path, {"gadgets.yaml": GADGET_ACTIONS})
    first = load(actions, policies, CLASSES).version

    again = load(actions, policies, CLASSES).version
    (policies / "roles.yaml").write_text((policies / "roles.yaml").read_text() + "\n")
    after_policy_edit = load(actions, policies, CLASSES).version

    assert again == first
    assert after_policy_edit != first


def test_a_load_error_is_a_config_error_whose_text_is_the_report(
    tmp_path: Path,
) -> None:
    """Start-up reports it like any bad setting: the text lists every mistake."""
    actions, policies = actions_tree(
        tmp_path, {"bad.yaml": one_action(TUNE + "    x: 1\n")}
    )

    with pytest.raises(RegistryError) as caught:
        load(actions, policies, CLASSES)

    assert str(caught.value).startswith("the action registry has 1 mistake:")
    assert "actions.d/bad.yaml:14 [gadget.tune] /actions/gadget.tune/x" in str(
        caught.value
    )

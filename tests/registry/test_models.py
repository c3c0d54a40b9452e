"""Generated models: they accept exactly what the declared JSON Schema accepts.

The property tests draw schemas from the whole payload subset and documents
that sit near them (mostly well-shaped, with wrong types, broken bounds,
missing and extra fields mixed in), and hold the pydantic model and the
JSON Schema validator to the same verdict on each.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agentos.registry import load
from agentos.registry.models import arguments, object_model, request_model
from agentos.registry.schema import Schema, close, validator
from agentos.registry.spec import build_spec
from tests.registry.helpers import REPO

NAMES = st.sampled_from(["a", "b", "c_d", "e-f", "json", "model_config"])
FORMAT_SAMPLES = {
    "uuid": [
        "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a",
        "3f2c0b8e5d0a4c1e9a572b1f0c6d7e8a",
    ],
    "date-time": [
        "2026-12-03T16:41:50Z",
        "2026-02-30T00:00:00Z",
        "2026-12-03 16:41:50",
    ],
    "email": ["ops@example.org", "ops@localhost", "two@@signs.org"],
    "ipv4": ["10.0.0.1", "10.0.0.256", "::1"],
    "ipv6": ["::1", "2001:db8::1", "10.0.0.1"],
    "cidr": ["10.0.0.0/8", "10.0.0.1/8", "2001:db8::/32"],
}
PATTERNS = ["^[a-c]+$", "x", "^\\d{2}", "[A-Z]$"]


# --- schemas of the subset ------------------------------------------------


def _bounds(numbers: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
    return st.dictionaries(st.sampled_from(keys), numbers, max_size=2)


def _lengths(low: str, high: str) -> st.SearchStrategy[dict[str, int]]:
    return st.dictionaries(st.sampled_from([low, high]), st.integers(0, 4), max_size=2)


def string_schemas() -> st.SearchStrategy[Schema]:
    one_rule = st.one_of(
        st.just({}),
        st.builds(lambda f: {"format": f}, st.sampled_from(sorted(FORMAT_SAMPLES))),
        st.builds(lambda p: {"pattern": p}, st.sampled_from(PATTERNS)),
        st.builds(
            lambda e: {"enum": e},
            st.lists(st.sampled_from(["a", "bb", "x1"]), min_size=1),
        ),
        _lengths("minLength", "maxLength"),
    )
    return st.builds(lambda a, b: {"type": "string", **a, **b}, one_rule, one_rule)


def number_schemas() -> st.SearchStrategy[Schema]:
    integral = st.builds(
        lambda b, e: {"type": "integer", **b, **e},
        _bounds(st.integers(-5, 5) | st.sampled_from([0.5, 2.5])),
        st.fixed_dictionaries(
            {}, optional={"enum": st.lists(st.integers(-3, 3), min_size=1)}
        ),
    )
    real = st.builds(
        lambda b, e: {"type": "number", **b, **e},
        _bounds(st.floats(-5, 5, allow_nan=False)),
        st.fixed_dictionaries({}, optional={"const": st.sampled_from([1, 2.5])}),
    )
    return integral | real


def scalar_schemas() -> st.SearchStrategy[Schema]:
    boolean = st.sampled_from([{"type": "boolean"}, {"type": "boolean", "const": True}])
    return string_schemas() | number_schemas() | boolean


def composite(children: st.SearchStrategy[Schema]) -> st.SearchStrategy[Schema]:
    arrays = st.builds(
        lambda items, n: {"type": "array", "items": items, **n},
        children,
        _lengths("minItems", "maxItems"),
    )
    return arrays | objects(children) | maps(children)


def objects(children: st.SearchStrategy[Schema]) -> st.SearchStrategy[Schema]:
    @st.composite
    def build(draw: st.DrawFn) -> Schema:
        properties = draw(st.dictionaries(NAMES, children, max_size=4))
        required = (
            draw(st.lists(st.sampled_from(sorted(properties)), unique=True))
            if properties
            else []
        )
        node: Schema = {
            "type": "object",
            "properties": properties,
            "required": required,
        }
        extra = draw(st.sampled_from([None, True, False]))
        if extra is not None:
            node["additionalProperties"] = extra
        return node

    return build()


def maps(children: st.SearchStrategy[Schema]) -> st.SearchStrategy[Schema]:
    return st.builds(
        lambda value: {"type": "object", "additionalProperties": value}, children
    )


# Leaves weigh more than nesting: most checks live in the leaves, and a
# document must pass every level above a leaf to reach it.
schemas = (
    scalar_schemas()
    | scalar_schemas()
    | st.recursive(scalar_schemas(), composite, max_leaves=4)
)
payload_schemas = objects(schemas)


# --- documents near a schema ----------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10)
    | st.floats(-10, 10, allow_nan=False)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


def near(schema: Schema) -> st.SearchStrategy[Any]:
    """Documents shaped like ``schema`` most of the time, anything sometimes."""
    return st.one_of(_shaped(schema), _shaped(schema), _shaped(schema), json_values)


def _shaped(schema: Schema) -> st.SearchStrategy[Any]:
    kind = schema["type"]
    if kind == "string":
        samples = FORMAT_SAMPLES.get(schema.get("format", ""), []) + schema.get(
            "enum", []
        )
        texts = st.text(alphabet="abcx1Z\n@.:-/ ", max_size=6)
        if "pattern" in schema:
            texts |= st.from_regex(schema["pattern"])
        return st.sampled_from(samples) | texts if samples else texts
    if kind in ("integer", "number"):
        return st.integers(-6, 6) | st.sampled_from([2.0, 2.5, -0.0, True, "2"])
    if kind == "boolean":
        return st.booleans() | st.sampled_from([0, 1, "true"])
    if kind == "array":
        return st.lists(near(schema["items"]), max_size=5)
    return _shaped_object(schema)


def _shaped_object(schema: Schema) -> st.SearchStrategy[Any]:
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    value_of = near(extra) if isinstance(extra, dict) else json_values
    fields = {name: near(child) for name, child in properties.items()}
    required = {n: f for n, f in fields.items() if n in schema.get("required", ())}
    optional = {n: f for n, f in fields.items() if n not in required}
    shaped = st.fixed_dictionaries(required, optional=optional) | st.fixed_dictionaries(
        {}, optional=fields
    )
    extras = st.just({}) | st.dictionaries(
        st.sampled_from(["zz", "a", "q-r"]), value_of, max_size=2
    )
    return st.builds(lambda known, more: {**more, **known}, shaped, extras)


# --- the property ------------------------------------------------------------


class Judges:
    """The two validators of one schema: JSON Schema's and the generated model."""

    def __init__(self, schema: Schema) -> None:
        closed = close(schema)
        self.schema = validator(closed)
        self.model = object_model(closed, "Drawn")

    def __call__(self, document: Any) -> tuple[bool, bool]:
        """(JSON Schema accepts, model accepts) for ``document``."""
        try:
            self.model.model_validate(document)
        except ValidationError:
            return self.schema.is_valid(document), False
        return self.schema.is_valid(document), True


def verdicts(schema: Schema, document: Any) -> tuple[bool, bool]:
    """(JSON Schema accepts, model accepts) for one document."""
    return Judges(schema)(document)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), schema=payload_schemas)
def test_a_generated_model_and_its_json_schema_agree_on_every_document(
    data: st.DataObject, schema: Schema
) -> None:
    """Drawn from the whole subset: same verdict on documents near the schema."""
    judge = Judges(schema)
    documents = data.draw(st.lists(near(schema), min_size=10, max_size=20))

    for document in documents:
        by_schema, by_model = judge(document)

        assert by_model == by_schema, (schema, document)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_declared_actions_models_agree_with_their_payload_schemas(
    data: st.DataObject,
) -> None:
    """Each action of actions.d/: its request model and its payload schema agree."""
    spec = data.draw(
        st.sampled_from(list(load(REPO / "actions.d", REPO / "policies", None)))
    )
    document = data.draw(near(spec.payload))
    model = request_model(spec)

    by_schema = validator(spec.payload).is_valid(document)
    try:
        model.model_validate({"action": spec.name, "payload": document})
        by_model = True
    except ValidationError:
        by_model = False

    assert by_model == by_schema, (spec.name, document)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), schema=payload_schemas)
def test_validated_arguments_still_satisfy_the_schema(
    data: st.DataObject, schema: Schema
) -> None:
    """What reaches the target is valid too: defaults applied, nothing invented."""
    document = data.draw(near(schema))
    spec = build_spec(
        "drawn.action",
        {"summary": "s", "rate_class": "standard", "target": "x.y", "payload": schema},
        view="V",
    )
    model = request_model(spec)
    try:
        request = model.model_validate({"action": "drawn.action", "payload": document})
    except ValidationError:
        return

    passed = arguments(request, confirm=False)

    assert validator(spec.payload).is_valid(passed)
    assert set(passed) <= set(document) | _defaulted(spec.payload)


def _defaulted(schema: Schema) -> set[str]:
    return {
        name for name, node in schema.get("properties", {}).items() if "default" in node
    }


# --- examples that pin the JSON rules down -----------------------------------


def field(node: Schema) -> Schema:
    """A payload with one required property ``v`` of schema ``node``."""
    return {"type": "object", "required": ["v"], "properties": {"v": node}}


@pytest.mark.parametrize(
    ("node", "value", "accepted"),
    [
        pytest.param(
            {"type": "string", "pattern": "x"}, "axb", True, id="pattern-searches"
        ),
        pytest.param(
            {"type": "string", "pattern": "^x"}, "axb", False, id="pattern-anchored"
        ),
        pytest.param(
            {"type": "string", "format": "uuid"},
            "3F2C0B8E-5D0A-4C1E-9A57-2B1F0C6D7E8A",
            True,
            id="uuid-upper",
        ),
        pytest.param(
            {"type": "string", "format": "date-time"},
            "2026-12-03T16:41:50+01:00",
            True,
            id="date-time-offset",
        ),
        pytest.param(
            {"type": "string", "format": "date-time"},
            "2026-12-03",
            False,
            id="date-only",
        ),
        pytest.param(
            {"type": "string", "format": "cidr"},
            "10.0.0.1/8",
            False,
            id="cidr-host-bits",
        ),
        pytest.param(
            {"type": "string", "format": "ipv6"}, "fe80::1%eth0", False, id="ipv6-zone"
        ),
        pytest.param(
            {"type": "string", "minLength": 2}, "é", False, id="length-in-chars"
        ),
        pytest.param({"type": "string", "enum": ["a", "b"]}, "c", False, id="enum"),
        pytest.param(
            {"type": "number", "exclusiveMinimum": 0}, 0, False, id="exclusive"
        ),
        pytest.param(
            {"type": "number", "maximum": 1.5}, 1, True, id="number-takes-int"
        ),
        pytest.param({"type": "number"}, True, False, id="number-refuses-bool"),
        pytest.param(
            {"type": "integer", "enum": [1, 2]}, 2.0, True, id="enum-json-equal"
        ),
        pytest.param({"type": "boolean", "const": True}, False, False, id="const"),
        pytest.param({"type": "boolean"}, 0, False, id="bool-refuses-int"),
        pytest.param(
            {"type": "array", "items": {"type": "integer"}, "maxItems": 1},
            [1, 2],
            False,
            id="max-items",
        ),
        pytest.param(
            {"type": "array", "items": {"type": "integer"}},
            (1,),
            False,
            id="tuple-is-not-json",
        ),
        pytest.param(
            {"type": "object", "additionalProperties": {"type": "integer"}},
            {"k": 1, "j": 2.0},
            True,
            id="map",
        ),
        pytest.param(
            {"type": "object", "additionalProperties": {"type": "integer"}},
            {"k": "1"},
            False,
            id="map-value",
        ),
        pytest.param(
            {"type": "object", "properties": {"a": {"type": "integer"}}},
            {"a": 1, "b": 2},
            False,
            id="closed-by-default",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}},
                "additionalProperties": True,
            },
            {"a": 1, "b": 2},
            True,
            id="opened",
        ),
    ],
)
def test_each_keyword_means_what_json_schema_says(
    node: Schema, value: Any, accepted: bool
) -> None:
    """Both validators give the JSON Schema verdict on each keyword's edge."""
    assert verdicts(field(node), {"v": value}) == (accepted, accepted)


INTEGER = {
    "type": "object",
    "required": ["n"],
    "properties": {"n": {"type": "integer"}},
}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        pytest.param(5, True, id="int"),
        pytest.param(5.0, True, id="integral-float"),
        pytest.param(5.5, False, id="fraction"),
        pytest.param("5", False, id="numeric-string"),
        pytest.param(True, False, id="boolean"),
        pytest.param(None, False, id="null"),
    ],
)
def test_integers_follow_json_schema_not_python(value: Any, accepted: bool) -> None:
    """``5.0`` is an integer in JSON Schema; ``"5"`` and ``true`` are not."""
    assert verdicts(INTEGER, {"n": value}) == (accepted, accepted)


def test_an_integral_float_reaches_the_target_as_an_int() -> None:
    """The target's ``int`` parameter gets an ``int``."""
    spec = build_spec(
        "a.b",
        {"summary": "s", "rate_class": "standard", "target": "x.y", "payload": INTEGER},
        view="V",
    )

    request = request_model(spec).model_validate(
        {"action": "a.b", "payload": {"n": 5.0}}
    )

    assert arguments(request, confirm=False) == {"n": 5}
    assert type(arguments(request, confirm=False)["n"]) is int


def test_optional_properties_without_default_are_left_out_of_the_arguments() -> None:
    """The target's own default applies; a declared default is passed on."""
    payload = {
        "type": "object",
        "properties": {
            "quiet": {"type": "string"},
            "loud": {"type": "string", "default": "yes"},
        },
    }
    spec = build_spec(
        "a.b",
        {"summary": "s", "rate_class": "standard", "target": "x.y", "payload": payload},
        view="V",
    )

    request = request_model(spec).model_validate({"action": "a.b"})

    assert arguments(request, confirm=False) == {"loud": "yes"}

"""The loader: ``actions.d/`` and ``policies/`` in, a registry or every mistake out.

Loading runs in stages, and each stage adds to one list of problems instead
of stopping at the first:

1. read each YAML file, noting lines and repeated keys;
2. check each file against the meta-schema (unknown keys, wrong types,
   keywords outside the payload subset);
3. for each action that passed, build its spec and check what a schema
   cannot: duplicate names across files, a missing view, defaults and
   examples that fail their own schema, the ownership field, a ``confirm``
   property declared by hand, names whose OpenAPI components would collide;
4. check the references: the target against the service catalogue (with the
   method's parameters), the rate class and permission against the policies,
   a deprecation's replacement against the other actions.

Only a clean list builds models and the permission index. An action that
failed stage 2 is not checked further, so one typo does not cascade into
a page of follow-on complaints.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentos.registry import schema as subset
from agentos.registry.metaschema import check_file
from agentos.registry.models import camel
from agentos.registry.policies import Policies, load_policies
from agentos.registry.problems import Problem, RegistryError, escape
from agentos.registry.registry import Registry, build_registry
from agentos.registry.source import SourceFile, content_hash, read_yaml, yaml_files
from agentos.registry.spec import ActionSpec, build_spec
from agentos.registry.targets import ServiceClasses, check_target


@dataclass
class _Run:
    """What one load has gathered so far."""

    classes: ServiceClasses | None
    policies: Policies | None = None
    specs: dict[str, ActionSpec] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    components: dict[str, str] = field(default_factory=dict)
    sources: dict[str, SourceFile] = field(default_factory=dict)


def load(
    actions: Path,
    policies: Path,
    classes: ServiceClasses | None,
) -> Registry:
    """The registry of ``actions`` (a directory or one file), or raise.

    ``classes`` is the service catalogue that targets resolve against;
    ``None`` skips the target checks (for tools that have no catalogue).
    Raises ``RegistryError`` listing every problem found.
    """
    with _collector_paused():
        return _load(actions, policies, classes)


def _load(actions: Path, policies: Path, classes: ServiceClasses | None) -> Registry:
    started = time.perf_counter()
    run = _Run(classes)
    files = _files(actions)
    run.policies, run.problems = load_policies(policies, policies.name)
    if not actions.exists():
        run.problems.append(Problem(str(actions), None, "", "does not exist"))
    for shown, path in files:
        _load_file(run, path, shown)
    _check_references(run)
    if run.problems:
        raise RegistryError(run.problems)

    assert run.policies is not None  # no problems means the policies loaded
    registry = build_registry(run.specs, run.policies, version_of(actions, policies))
    return replace(registry, load_ms=round((time.perf_counter() - started) * 1000, 1))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold off Python's cycle collector while a registry is built.

    A load allocates many long-lived objects (schemas, validators, model
    classes) and frees almost none; each full collection walks all of them
    again, which made loading 10,000 actions several times slower than ten
    loads of 1,000.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def lint(
    actions: Path, policies: Path, classes: ServiceClasses | None
) -> list[Problem]:
    """Every problem of the declarations; an empty list when they load."""
    try:
        load(actions, policies, classes)
    except RegistryError as exc:
        return exc.problems
    return []


def version_of(actions: Path, policies: Path) -> str:
    """The content hash of the declarations and policies: the registry version.

    Every policy file counts, not only the two the registry reads: an edit
    of ``access.yaml`` or ``breakers.yaml`` alone must change the version,
    or a reload would stop at "unchanged" and never hand the new file to
    the listeners that read it.
    """
    folder = policies.name
    policy_files = [(f"{folder}/{path.name}", path) for path in yaml_files(policies)]
    return content_hash([*_files(actions), *policy_files])


@dataclass(frozen=True)
class RegistrySource:
    """Where a registry comes from: what a reload loads again."""

    actions: Path
    policies: Path
    classes: ServiceClasses | None

    def load(self) -> Registry:
        """A fresh registry from the files; raises ``RegistryError``."""
        return load(self.actions, self.policies, self.classes)

    def version(self) -> str:
        """The version the files would load as, without loading them."""
        return version_of(self.actions, self.policies)


def _files(actions: Path) -> list[tuple[str, Path]]:
    paths = [actions] if actions.is_file() else yaml_files(actions)
    folder = actions.parent.name if actions.is_file() else actions.name
    return [(f"{folder}/{path.name}", path) for path in paths]


# --- stages 1 to 3: one file ----------------------------------------------


def _load_file(run: _Run, path: Path, shown: str) -> None:
    source, problems = read_yaml(path, shown)
    run.problems += problems
    if source is None:
        return
    run.sources[shown] = source
    schema_problems = check_file(source)
    run.problems += schema_problems
    if not isinstance(source.data, dict) or not isinstance(
        source.data.get("actions"), dict
    ):
        return

    failed = {problem.action for problem in schema_problems}
    for name, declaration in source.data["actions"].items():
        if name in failed:
            _check_names_only(run, source, name, declaration)
        else:
            _load_action(run, source, name, declaration)


def _check_names_only(
    run: _Run, source: SourceFile, name: str, declaration: Any
) -> None:
    """The reference checks that still make sense for a malformed action.

    Its schema is broken, so nothing that reads the payload runs; but a
    rate class or target that does not exist is worth hearing about now.
    """
    if not isinstance(declaration, dict):
        return
    report = _reporter(run, source, name, f"/actions/{escape(name)}")
    rate_class, target = declaration.get("rate_class"), declaration.get("target")
    policies = run.policies
    if (
        policies
        and isinstance(rate_class, str)
        and rate_class not in policies.rate_classes
    ):
        report("/rate_class", _unknown_rate_class(policies, rate_class))
    if run.classes is not None and isinstance(target, str) and "." in target:
        for where, message in check_target(target, [], [], run.classes):
            if where == "/target":
                report(where, message)


def _load_action(
    run: _Run, source: SourceFile, name: str, declaration: dict[str, Any]
) -> None:
    at = f"/actions/{escape(name)}"
    report = _reporter(run, source, name, at)
    if name in run.specs:
        first = run.specs[name]
        report("", f"the action is declared twice; first in {first.file}:{first.line}")
        return
    view = declaration.get("view") or source.data.get("view")
    if not isinstance(view, str) or not view:
        report("", "no view: give the action a view, or the file a top-level view")
        view = ""  # reported; the other checks still run

    spec = build_spec(
        name, declaration, view=view, file=source.name, line=source.line_of(at)
    )
    for where, message in _check_spec(spec, declaration):
        report(where, message)
    _claim_component(run, spec, report)
    run.specs[name] = spec


def _reporter(run: _Run, source: SourceFile, action: str, at: str) -> Any:
    def report(where: str, message: str) -> None:
        pointer = at + where
        run.problems.append(
            Problem(source.name, source.line_of(pointer), pointer, message, action)
        )

    return report


def _check_spec(
    spec: ActionSpec, declaration: dict[str, Any]
) -> Iterator[tuple[str, str]]:
    for where, message in subset.check_own_values(spec.declared_payload):
        yield f"/payload{where}", message
    if spec.result is not None:
        for where, message in subset.check_own_values(spec.result):
            yield f"/result{where}", message
    yield from _check_examples(spec)
    yield from _check_ownership(spec)
    if spec.confirm and subset.CONFIRM_PROPERTY in spec.declared_payload.get(
        "properties", {}
    ):
        message = "confirm: true adds the 'confirm' property itself; do not declare it"
        yield f"/payload/properties/{subset.CONFIRM_PROPERTY}", message


def _check_examples(spec: ActionSpec) -> Iterator[tuple[str, str]]:
    check = subset.validator(spec.payload)
    for index, example in enumerate(spec.examples):
        for error in check.iter_errors(example):
            inner = "".join(f"/{escape(str(p))}" for p in error.absolute_path)
            where = f" at {inner}" if inner else ""
            yield (
                f"/examples/{index}",
                f"the example does not fit the payload{where}: {error.message}",
            )


def _check_ownership(spec: ActionSpec) -> Iterator[tuple[str, str]]:
    if spec.ownership is None:
        return
    name = spec.ownership.field
    if name not in spec.payload.get("properties", {}):
        yield "/ownership/field", f"'{name}' is not a property of the payload"
    elif name not in spec.payload.get("required", []):
        message = f"'{name}' must be required: an own-only caller could leave it out"
        yield "/ownership/field", message


def _claim_component(run: _Run, spec: ActionSpec, report: Any) -> None:
    component = camel(spec.name)
    holder = run.components.setdefault(component, spec.name)
    if holder != spec.name:
        message = (
            f"the name reads as '{component}' in OpenAPI and generated clients, "
            f"like '{holder}'; rename one of them"
        )
        report("", message)


# --- stage 4: references --------------------------------------------------


def _check_references(run: _Run) -> None:
    for spec in run.specs.values():
        for where, message in _references_of(run, spec):
            pointer = f"/actions/{escape(spec.name)}{where}"
            line = run.sources[spec.file].line_of(pointer)
            run.problems.append(Problem(spec.file, line, pointer, message, spec.name))


def _references_of(run: _Run, spec: ActionSpec) -> Iterator[tuple[str, str]]:
    if run.classes is not None:
        properties = spec.parameters
        required = spec.payload.get("required", [])
        yield from check_target(spec.target, properties, required, run.classes)
    if run.policies is not None:
        yield from _check_policies(run.policies, spec)
    replacement = spec.deprecated.replacement if spec.deprecated else None
    if replacement and replacement not in run.specs:
        message = f"the replacement '{replacement}' is not an action"
        yield "/deprecated/replacement", message


def _check_policies(policies: Policies, spec: ActionSpec) -> Iterator[tuple[str, str]]:
    if spec.rate_class not in policies.rate_classes:
        yield "/rate_class", _unknown_rate_class(policies, spec.rate_class)
    if not policies.knows_permission(spec.permission):
        message = (
            f"the permission '{spec.permission}' matches none of the permissions "
            "listed in policies/roles.yaml; add it there or name a listed one"
        )
        yield "/permission" if spec.permission != spec.name else "", message


def _unknown_rate_class(policies: Policies, name: str) -> str:
    known = ", ".join(sorted(policies.rate_classes))
    return f"no rate class '{name}' in policies/rate_limits.yaml (known: {known})"

"""The declarative action registry: ``actions.d/`` YAML becomes the admin actions.

An operator adds an admin action by writing YAML; the registry turns each
declaration into a validation model, a permission rule and a dispatch entry,
and refuses to start on any mistake. The modules, in the order data flows:

* ``source``: YAML files with line numbers; ``metaschema``: the format check;
* ``schema``, ``formats``: the payload subset of JSON Schema;
* ``spec``: one checked declaration; ``targets``: the service operation;
* ``policies``, ``permissions``: roles, rate classes and the permission index;
* ``models``: the generated pydantic models and the discriminated union;
* ``loader``: all of the above, every mistake at once;
* ``registry``: one immutable generation; ``reload``: swapping generations;
* ``openapi``, ``docs``, ``cli``: what operators and clients see.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentos.config import Settings
from agentos.registry.loader import RegistrySource, lint, load
from agentos.registry.problems import Problem, RegistryError
from agentos.registry.registry import Call, Registry
from agentos.registry.reload import RegistryHolder, ReloadOutcome
from agentos.registry.spec import ActionSpec
from agentos.services.base import Service

__all__ = [
    "ActionSpec",
    "Call",
    "Problem",
    "Registry",
    "RegistryError",
    "RegistryHolder",
    "RegistrySource",
    "ReloadOutcome",
    "lint",
    "load",
    "load_registry",
]


def load_registry(
    settings: Settings, service_classes: Mapping[str, type[Service]]
) -> RegistryHolder:
    """Load the registry the settings point at; raise ``RegistryError`` if broken.

    The holder's ``current`` is the registry; its ``reload`` and the
    triggers of ``agentos.registry.reload`` replace it later.
    """
    source = RegistrySource(
        settings.actions_dir, settings.policies_dir, service_classes
    )
    return RegistryHolder(source.load(), source)

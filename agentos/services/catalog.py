"""The service classes that exist, by name: what action targets resolve against.

Each domain module adds its class here. ``build_services`` instantiates them
all over one ``Deps`` so that they can reach each other by name.
"""

from __future__ import annotations

from agentos.services.base import Deps, Service

SERVICE_CLASSES: dict[str, type[Service]] = {}


def register(cls: type[Service]) -> type[Service]:
    """Class decorator: make ``cls`` reachable as ``cls.name`` in targets."""
    SERVICE_CLASSES[cls.name] = cls
    return cls


def load_all() -> dict[str, type[Service]]:
    """Import every domain module so that each registers its class."""
    import agentos.services.domains  # noqa: F401  (registers on import)

    return SERVICE_CLASSES


def build_services(db: object, state: object, settings: object) -> dict[str, Service]:
    """Instantiate every registered service over shared dependencies."""
    deps = Deps(db=db, state=state, settings=settings)
    for name, cls in load_all().items():
        deps.services[name] = cls(deps)
    return deps.services

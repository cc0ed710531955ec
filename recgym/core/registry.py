"""One registry of named policies, filled by a decorator beside each policy class.

A policy becomes available to ``recgym sweep --policies``, ``recgym train --algo`` (RL),
``recgym policies``, scenario files and every did-you-mean by one decorator::

    @register_policy("my_ranker", kind="static", description="ranks by my score")
    class MyRanker(ScoringPolicy):
        def __init__(self, slate_size: int, seed: int = 0, boost: float = 1.0) -> None: ...

The sweep builds it for each run from a ``PolicyContext``: the constructor arguments named in
``provides`` come from the run (``slate_size``, ``seed``, ``num_items``, ``env``), ``defaults``
may derive more from it (HATCH's budget), and a grid sets the rest. RL trainers register
with ``kind="rl"`` and are trained by name rather than built.

This module only holds the registry; the layers that read it import the built-in policy
packages first (``recgym.sweep.policies.policy_registry``). Modules named in the
``RECGYM_PLUGINS`` environment variable (comma-separated; ``recgym --plugin``) are imported
too, in every process, so a user's own policy also runs in a sweep's worker processes.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any, TypeVar

from recgym.errors import ConfigError

KINDS = ("static", "online", "rl")
"""static: acts as built; online: learns from every response; rl: trained by a trainer, then acts."""

T = TypeVar("T", bound=type)


@dataclasses.dataclass(frozen=True)
class PolicyContext:
    """What a sweep knows when it builds a policy for one run."""

    env: Any
    """The run's native vector env (a ``RecVectorEnv``)."""
    seed: int
    online_steps: int = 0
    """Steps per user of the run's online phase (0 for static policies)."""

    def provide(self, name: str) -> Any:
        """The value of constructor argument ``name`` that the sweep fills in."""
        providers: dict[str, Callable[[], Any]] = {
            "slate_size": lambda: self.env.slate_size,
            "seed": lambda: self.seed,
            "num_items": lambda: self.env.simulator.catalog.num_items,
            "env": lambda: self.env,
        }
        if name not in providers:
            raise ConfigError(f"A policy asks the sweep for {name!r}; it can provide {sorted(providers)}.")
        return providers[name]()


@dataclasses.dataclass(frozen=True)
class RegisteredPolicy:
    """A named policy: what it is, and how a sweep builds (or, for RL, trains) it."""

    name: str
    kind: str
    description: str
    target: type
    """The policy class (static, online) or the trainer class (rl)."""
    provides: tuple[str, ...] = ("slate_size", "seed")
    """Constructor arguments the sweep fills in from the ``PolicyContext``; a grid may not set them."""
    defaults: Callable[[PolicyContext], dict[str, Any]] | None = None
    """Constructor arguments derived from the run, which a grid may override."""
    reads_hidden_state: bool = False
    """True for oracles: they act on hidden user state, so off-policy estimation does not apply."""

    def build(self, context: PolicyContext, params: dict[str, Any]) -> Any:
        """The policy for one run: provided arguments, derived defaults, then ``params`` (a grid point)."""
        if self.kind == "rl":
            raise ConfigError(f"{self.name} is an RL policy: it is trained by name (recgym train), not built.")
        arguments = {name: context.provide(name) for name in self.provides}
        arguments |= self.defaults(context) if self.defaults is not None else {}
        try:
            return self.target(**(arguments | params))
        except TypeError as error:
            raise ConfigError(f"Policy {self.name!r} rejected parameters {params}: {error}") from error


_POLICIES: dict[str, RegisteredPolicy] = {}


def register_policy(
    name: str,
    kind: str,
    description: str,
    provides: tuple[str, ...] = ("slate_size", "seed"),
    defaults: Callable[[PolicyContext], dict[str, Any]] | None = None,
    reads_hidden_state: bool = False,
) -> Callable[[T], T]:
    """Class decorator: register the class as policy ``name`` (see the module docstring)."""
    if kind not in KINDS:
        raise ConfigError(f"Policy {name!r}: kind must be one of {KINDS}; got {kind!r}.")

    def decorate(cls: T) -> T:
        existing = _POLICIES.get(name)
        if existing is not None and existing.target.__qualname__ != cls.__qualname__:
            raise ConfigError(
                f"Policy name {name!r} is taken by {existing.target.__module__}.{existing.target.__qualname__}; "
                f"register {cls.__module__}.{cls.__qualname__} under another name."
            )
        if kind == "rl" and getattr(cls, "algorithm", name) != name:
            raise ConfigError(f"Trainer {cls.__qualname__} has algorithm {cls.algorithm!r} but registers as {name!r}.")
        _POLICIES[name] = RegisteredPolicy(name, kind, description, cls, provides, defaults, reads_hidden_state)
        return cls

    return decorate


def registered() -> dict[str, RegisteredPolicy]:
    """Every policy registered so far in this process, by name (in registration order)."""
    return dict(_POLICIES)


def unknown_policy(name: str, known: list[str]) -> ConfigError:
    """The error for a name that is not registered: the closest name and all of them."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"Unknown policy {name!r}.{hint} Registered policies: {', '.join(known)} (`recgym policies` lists them "
        "with their parameters; your own: @register_policy, imported through --plugin / RECGYM_PLUGINS)."
    )


def import_plugins() -> None:
    """Import the modules named in ``RECGYM_PLUGINS`` (comma-separated), so their decorators register."""
    import importlib
    import os

    for module in filter(None, (name.strip() for name in os.environ.get("RECGYM_PLUGINS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(
                f"RECGYM_PLUGINS names {module!r}, which cannot be imported ({error}); fix the module name or make it "
                "importable (on PYTHONPATH, or run from the folder that holds it)."
            ) from error

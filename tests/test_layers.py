"""Imports point down the layers of docs/architecture.md, and the known exceptions only shrink.

Every ``import`` in the packages (function-level ones included) is read with ``ast``; an import
from a higher layer into a lower one fails unless it is listed in ``KNOWN_UPWARD`` below, which
issue 17's redesign empties. A listed import that has gone must leave the list too, so the list
always says exactly what is left to fix.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("recgym", "simulators", "policies", "scenarios")

LAYERS = {
    "recgym.core": 0,
    "recgym.errors": 0,
    "recgym.llm": 0,
    "simulators": 1,
    "policies": 1,
    "recgym.envs": 2,
    "recgym.wrappers": 2,
    "recgym.eval": 3,
    "recgym.training": 3,
    "recgym.rl": 3,
    "recgym.evaluation": 3,
    "recgym.sweep": 4,
    "scenarios.schema": 3,
    "recgym.report": 5,
    "scenarios": 6,
    "recgym.demo": 6,
    "recgym.cli": 7,
    "recgym": 2,
}
"""Rank of each layer: a module may import its own layer and those of lower rank. ``recgym`` itself (its
``__init__``) only registers env ids; scenario types (``scenarios.schema``) sit below the sweeps that read them,
the loader and the library above."""

FORBIDDEN_ACROSS = {("simulators", "policies"), ("policies", "simulators")}
"""Simulators and policies share a rank but must never import each other (a policy never sees users)."""

KNOWN_UPWARD = {
    "recgym.sweep.request -> scenarios.loader",
    "recgym.sweep.sweep -> scenarios.loader",
}
"""Imports against the layers, as of 2026-12-04: sweeps load scenario files (the loader sits above them)."""


def layer_of(module: str) -> str:
    """The layer a dotted module name belongs to (the longest prefix in ``LAYERS``)."""
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        if prefix in LAYERS:
            return prefix
    raise AssertionError(f"{module} is in no layer; add its package to LAYERS")


def imports() -> set[tuple[str, str]]:
    """(importing module, imported module) for every import of our packages inside our packages."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                found.update((module, name) for name in names if name.split(".")[0] in PACKAGES)
    return found


def against_the_layers() -> set[str]:
    bad = set()
    for importer, imported in imports():
        source, target = layer_of(importer), layer_of(imported)
        upward = LAYERS[target] > LAYERS[source]
        across = (source, target) in FORBIDDEN_ACROSS
        if upward or across:
            bad.add(f"{importer} -> {imported}")
    return bad


def test_imports_point_down_the_layers() -> None:
    new = sorted(against_the_layers() - KNOWN_UPWARD)
    assert not new, f"imports against the layers (docs/architecture.md): {new}"


def test_the_list_of_known_exceptions_only_shrinks() -> None:
    fixed = sorted(KNOWN_UPWARD - against_the_layers())
    assert not fixed, f"these no longer happen; remove them from KNOWN_UPWARD: {fixed}"


def test_core_imports_nothing_of_ours_above_it() -> None:
    above = sorted(
        f"{importer} -> {imported}"
        for importer, imported in imports()
        if layer_of(importer) in ("recgym.core", "recgym.errors") and LAYERS[layer_of(imported)] > 0
    )
    assert not above, above


PRIVILEGED_READERS = {"policies.rl.sim2rec"}
"""Policies allowed to read the simulator behind an env: Sim2Rec's trainer reads each user's true
parameters as its identification target, and passes them only through the training-only channel
(``ActorCriticTrainer.privileged_targets``; ``tests/policies/rl/test_sim2rec.py`` checks no module sees them)."""


def simulator_readers() -> set[str]:
    """Modules of ``policies/`` that reach an env's simulator (``.simulator``) or its users' state (``.state.user``)."""
    found = set()
    for path in (ROOT / "policies").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            reads_simulator = isinstance(node, ast.Attribute) and node.attr == "simulator"
            reads_users = (
                isinstance(node, ast.Attribute)
                and node.attr == "user"
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "state"
            )
            named = (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "getattr"
                and len(node.args) > 1
                and getattr(node.args[1], "value", None) == "simulator"
            )
            if reads_simulator or reads_users or named:
                found.add(module)
    return found


def test_policies_never_reach_into_a_simulator() -> None:
    """A policy sees observations and the env's public item topics; only the listed trainers read more."""
    assert simulator_readers() == PRIVILEGED_READERS

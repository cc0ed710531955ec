"""Every registered policy, built-in and plugged in: what sweeps, the CLI, scenarios and RL read.

The built-in policies register themselves by decorator when their modules are imported;
``policy_registry`` imports those modules (listed once, here) and the user's
``RECGYM_PLUGINS`` modules, then returns the registry of ``recgym.core.registry``.
"""

from __future__ import annotations

import importlib

from recgym.core.registry import RegisteredPolicy, import_plugins, registered, unknown_policy

BUILTIN_MODULES = (
    "policies.baselines",
    "policies.saved",
    "policies.bandits",
    "policies.rl.actor_critic",
    "policies.rl.slateq",
    "policies.rl.constrained",
    "policies.rl.hierarchical",
    "policies.rl.sim2rec",
)
"""Modules whose classes carry ``@register_policy``."""


def policy_registry() -> dict[str, RegisteredPolicy]:
    """Every registered policy by name: the built-in ones, then those of ``RECGYM_PLUGINS``."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    import_plugins()
    return registered()


def registered_policy(name: str) -> RegisteredPolicy:
    """The policy registered as ``name``; ConfigError with a did-you-mean and every name otherwise."""
    policies = policy_registry()
    if name not in policies:
        raise unknown_policy(name, list(policies))
    return policies[name]

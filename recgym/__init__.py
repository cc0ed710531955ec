"""recgym: batched user simulators and Gymnasium environments for recommender-system RL.

Importing recgym registers its env ids (``recgym/...``) with gymnasium; simulators are
imported only when an env is made, so this import stays cheap.
"""

from recgym.envs.registration import register, register_builtin_envs, registered_ids

__version__ = "0.1.0"
__all__ = ["__version__", "load_policy", "register", "registered_ids"]


def __getattr__(name: str) -> object:
    """``recgym.load_policy``, imported on first use so that ``import recgym`` stays free of torch."""
    if name == "load_policy":
        from policies.artefacts import load_policy

        return load_policy
    raise AttributeError(f"module 'recgym' has no attribute {name!r}")


register_builtin_envs()

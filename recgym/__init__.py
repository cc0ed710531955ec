"""recgym: batched user simulators and Gymnasium environments for recommender-system RL.

Importing recgym registers its env ids (``recgym/...``) with gymnasium; simulators are
imported only when an env is made, so this import stays cheap.
"""

from recgym.envs.registration import register, register_builtin_envs, registered_ids

__version__ = "0.1.0"
__all__ = ["__version__", "register", "registered_ids"]

register_builtin_envs()

"""Policies as files: a trained or learning policy saved on its own and loaded without its trainer, env or replay.

``save_policy(policy, path)`` (or ``policy.save(path)``) writes a new file, never over an
existing one; ``load_policy(path)`` rebuilds the policy with ``torch.load(weights_only=True)``,
so opening a policy file someone sent runs none of its code. The file keeps what the policy
was trained on (env id, options, observation shapes and slate size), so an evaluation on an
env that shows it different inputs is refused with the difference named.

Which classes a file may name is limited to recgym's own packages and the modules of
registered policies (plugins included): a file cannot make ``load_policy`` import anything else.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from recgym.core.files import write_new_bytes
from recgym.core.saved import RemembersArguments, decode_object, encode_object
from recgym.errors import PolicyFileError

POLICY_FORMAT = "recgym-policy"
FORMAT_VERSION = 1
_OWN_PACKAGES = ("policies", "recgym")


class SaveablePolicy(RemembersArguments):
    """Base of the policies that save on their own: ``policy.save(path)``, read back by ``load_policy``."""

    def save(self, path: str | Path, trained_on: dict[str, Any] | None = None) -> Path:
        """Write this policy to the new file ``path`` (see ``save_policy``)."""
        return save_policy(self, path, trained_on)


@dataclasses.dataclass(frozen=True)
class SavedPolicy:
    """A policy read from a file, with what it was trained on (None when the file does not say)."""

    policy: Any
    trained_on: dict[str, Any] | None
    path: Path


def env_interface(env: Any) -> dict[str, Any]:
    """What a policy reads of an env and must see again when evaluated: observation shapes and slate size."""
    shapes = {name: list(space.shape) for name, space in env.single_observation_space.spaces.items()}
    return {"observation_shapes": shapes, "slate_size": int(env.slate_size)}


def interface_differences(trained_on: dict[str, Any], env: Any, env_id: str) -> list[str]:
    """How ``env`` differs from the interface in ``trained_on`` (empty when it shows the same inputs)."""
    offered = env_interface(env)
    differences = [
        f"{name}: trained on {tuple(shape)}, {env_id} gives "
        f"{tuple(offered['observation_shapes'][name]) if name in offered['observation_shapes'] else 'none'}"
        for name, shape in trained_on["observation_shapes"].items()
        if offered["observation_shapes"].get(name) != list(shape)
    ]
    if trained_on["slate_size"] != offered["slate_size"]:
        trained, shown = trained_on["slate_size"], offered["slate_size"]
        differences.append(f"slate: trained on {trained} items, {env_id} shows {shown}")
    return differences


def save_policy(policy: Any, path: str | Path, trained_on: dict[str, Any] | None = None) -> Path:
    """Write ``policy`` (its class, constructor arguments and state) to ``path``, a file that must not exist yet."""
    path = Path(path)
    if path.exists():
        raise PolicyFileError(f"{path} already exists; recgym never overwrites a saved policy. Choose a new file name.")
    payload = {
        "format": POLICY_FORMAT,
        "version": FORMAT_VERSION,
        "policy": encode_object(policy),
        "trained_on": trained_on,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        write_new_bytes(path, buffer.getvalue())
    except FileExistsError:
        raise PolicyFileError(f"{path} appeared while saving; it is kept. Choose a new file name.") from None
    return path


def read_policy_file(path: str | Path, device: str | torch.device = "cpu") -> SavedPolicy:
    """The policy in ``path`` rebuilt on ``device``, and what it was trained on."""
    path = Path(path)
    if not path.is_file():
        raise PolicyFileError(f"No policy file at {path}; save one with policy.save(path) or `recgym train`.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise PolicyFileError(
            f"{path} is not a readable recgym policy file ({_first_line(error)}). It may be truncated, or a trainer "
            "checkpoint (pass its run folder to `recgym evaluate`), or not written by recgym; policy files are read "
            "with weights_only and never unpickled."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != POLICY_FORMAT:
        raise PolicyFileError(f"{path} is a torch file but not a recgym policy (no {POLICY_FORMAT!r} format marker).")
    if payload.get("version") != FORMAT_VERSION:
        raise PolicyFileError(
            f"{path} is policy format version {payload.get('version')}; this recgym reads version {FORMAT_VERSION}."
        )
    policy = decode_object(payload["policy"], _resolve_class, torch.device(device))
    return SavedPolicy(policy, payload.get("trained_on"), path)


def load_policy(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """The policy saved in ``path``, ready to ``act`` on ``device``: no trainer, env or replay needed."""
    return read_policy_file(path, device).policy


def _resolve_class(path: str) -> type:
    module_name, _, qualname = path.partition(":")
    if module_name.split(".")[0] not in _OWN_PACKAGES and module_name not in _registered_modules():
        raise PolicyFileError(
            f"This policy file names class {path}, outside recgym's packages and the registered policies' modules; "
            "it is not loaded. Register the policy (@register_policy, imported with --plugin / RECGYM_PLUGINS)."
        )
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise PolicyFileError(
            f"This policy file names class {path}, which this recgym does not have ({error}); "
            "load it with the version that saved it."
        ) from error
    if not (isinstance(found, type) and issubclass(found, RemembersArguments)):
        raise PolicyFileError(f"This policy file names {path}, which is not a saveable recgym class; it is not loaded.")
    return found


def _registered_modules() -> set[str]:
    from policies.registry import policy_registry

    return {entry.target.__module__ for entry in policy_registry().values()}


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]

"""Objects saved as their constructor's arguments plus their state, in files torch reads with ``weights_only``.

A trained policy is rebuilt, not unpickled: the file names the class, the arguments it was
constructed with and its ``state_dict``; loading imports the class (only where the caller's
``resolve`` allows it), calls it with those arguments and loads the state. The file itself
holds only tensors, numbers, strings, lists and dicts, which ``torch.load(weights_only=True)``
reads without running any code from the file.

An object takes part by inheriting ``RemembersArguments`` (its constructor arguments are
recorded as it is built) and having ``state_dict``/``load_state_dict``. Arguments may be plain
values, tensors, gymnasium ``Dict`` spaces of ``Box`` spaces (rebuilt with their shapes and
dtypes) and other such objects (networks inside a policy), saved recursively.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from recgym.errors import PolicyFileError

_OBJECT = "__object__"
_SPACE = "__space__"
_PLAIN = (bool, int, float, str, type(None))

Resolve = Callable[[str], type]
"""``"module:QualName"`` -> the class, or a ``PolicyFileError`` when that class may not be loaded."""


class RemembersArguments:
    """Records the arguments each instance was constructed with (defaults filled in) as ``constructor_arguments``.

    Keyword arguments a constructor collects in ``**kwargs`` are recorded by their own names,
    so the object is rebuilt as ``cls(**constructor_arguments)``.
    """

    constructor_arguments: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__new__(cls)
        try:
            bound = inspect.signature(cls).bind(*args, **kwargs)
        except TypeError:
            return instance  # the constructor raises its own error for these arguments
        bound.apply_defaults()
        arguments: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = bound.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                arguments[name] = tuple(value)
            else:
                arguments[name] = value
        object.__setattr__(instance, "constructor_arguments", arguments)
        return instance


def class_path(cls: type) -> str:
    """``module:QualName``, the name a saved object is rebuilt from."""
    return f"{cls.__module__}:{cls.__qualname__}"


def encode_object(value: Any, where: str = "policy") -> dict[str, Any]:
    """``value`` as a weights-only-loadable tree: class path, encoded arguments and state."""
    arguments = getattr(value, "constructor_arguments", None)
    if arguments is None or not hasattr(value, "state_dict"):
        raise PolicyFileError(
            f"{where} ({type(value).__qualname__}) cannot be saved on its own: it does not record its constructor "
            "arguments. Derive it from recgym.core.saved.RemembersArguments and give it state_dict/load_state_dict."
        )
    encoded = {name: _encode(argument, f"{where}.{name}") for name, argument in arguments.items()}
    return {_OBJECT: class_path(type(value)), "arguments": encoded, "state": _cpu(value.state_dict())}


def decode_object(tree: dict[str, Any], resolve: Resolve, device: torch.device) -> Any:
    """The object ``encode_object`` described, rebuilt on ``device`` with its state loaded."""
    cls = resolve(tree[_OBJECT])
    arguments = {name: _decode(value, resolve, device) for name, value in tree["arguments"].items()}
    try:
        instance = cls(**arguments)
        instance.load_state_dict(tree["state"])
    except (TypeError, KeyError, RuntimeError) as error:
        raise PolicyFileError(
            f"{tree[_OBJECT]} could not be rebuilt from its saved arguments and state ({error}); the file was written "
            "by a version of recgym whose class differs from this one. Save the policy again with this version."
        ) from error
    if isinstance(instance, torch.nn.Module):
        instance.to(device)
    return instance


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, list | tuple):
        return type(value)(_encode(item, f"{where}[{index}]") for index, item in enumerate(value))
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _encode(item, f"{where}.{key}") for key, item in value.items()}
    if _is_box_dict(value):
        return {_SPACE: {key: [list(space.shape), str(space.dtype)] for key, space in value.spaces.items()}}
    if hasattr(value, "constructor_arguments"):
        return encode_object(value, where)
    raise PolicyFileError(
        f"{where} = {type(value).__qualname__} cannot be saved: a saved policy is rebuilt from plain arguments "
        "(numbers, strings, lists, dicts, tensors, Box spaces, saveable networks). Pass it by name or as data "
        "(e.g. context='candidate' rather than a function), or save the object that owns it instead."
    )


def _decode(value: Any, resolve: Resolve, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list | tuple):
        return type(value)(_decode(item, resolve, device) for item in value)
    if isinstance(value, dict):
        if _OBJECT in value:
            return decode_object(value, resolve, device)
        if _SPACE in value:
            return _box_dict(value[_SPACE])
        return {key: _decode(item, resolve, device) for key, item in value.items()}
    return value


def _cpu(state: Any) -> Any:
    """A state dict with every tensor copied to the CPU, so the file loads on any machine."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu().clone()
    if isinstance(state, dict):
        return {key: _cpu(item) for key, item in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_cpu(item) for item in state)
    return state


def _is_box_dict(value: Any) -> bool:
    from gymnasium import spaces

    return isinstance(value, spaces.Dict) and all(isinstance(space, spaces.Box) for space in value.spaces.values())


def _box_dict(shapes: dict[str, list[Any]]) -> Any:
    """A ``Dict`` of unbounded ``Box`` spaces with the saved shapes and dtypes (all a network reads of a space)."""
    import numpy as np
    from gymnasium import spaces

    boxes = {
        key: spaces.Box(-np.inf, np.inf, shape=tuple(shape), dtype=np.dtype(dtype))
        for key, (shape, dtype) in shapes.items()
    }
    return spaces.Dict(boxes)

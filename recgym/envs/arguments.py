"""Keyword arguments of ``gym.make`` / ``gym.make_vec`` checked once, for every simulator, before anything is built.

The valid names and their types come from the signatures that receive them: ``RecVectorEnv``
(and ``RecEnv``), the simulator factory, and, for a factory that takes ``**params``, the fields
of the params dataclass its simulator is built with (found from the factory's return type).
A wrong name gets a did-you-mean; a wrong type names the argument, the value and the type
wanted. ``bool`` is not accepted where an ``int`` or ``float`` is expected; an ``int`` is
accepted for a ``float``.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from recgym.errors import ConfigError

_UNCHECKED = object()
"""The hint of an argument whose type cannot be resolved: any value is accepted here."""


@dataclasses.dataclass(frozen=True)
class ArgumentGroup:
    """Arguments that one receiver takes, with their type hints and defaults."""

    label: str
    """How the message names the group: 'env', 'simulator', 'parameters'."""
    hints: dict[str, Any]
    """Argument name -> type hint (``_UNCHECKED`` where unknown)."""
    defaults: dict[str, Any]
    """Argument name -> default, where there is one."""


def _resolved_hints(function: Callable[..., Any]) -> dict[str, Any]:
    """``typing.get_type_hints`` that never fails: unresolvable annotations become ``_UNCHECKED``."""
    try:
        return typing.get_type_hints(function)
    except Exception:  # an annotation naming a TYPE_CHECKING-only import: check what resolves
        module_globals = getattr(inspect.unwrap(function), "__globals__", {})
        hints: dict[str, Any] = {}
        for name, annotation in getattr(function, "__annotations__", {}).items():
            try:
                hints[name] = eval(annotation, module_globals) if isinstance(annotation, str) else annotation
            except Exception:
                hints[name] = _UNCHECKED
        return hints


def signature_group(label: str, function: Callable[..., Any], skip: frozenset[str] = frozenset()) -> ArgumentGroup:
    """The named (not ``*args`` / ``**kwargs``) parameters of ``function``, minus ``skip``."""
    hints = _resolved_hints(function)
    names, defaults = {}, {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name in skip or name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        names[name] = hints.get(name, _UNCHECKED)
        if parameter.default is not parameter.empty:
            defaults[name] = parameter.default
    return ArgumentGroup(label, names, defaults)


def takes_var_keywords(function: Callable[..., Any]) -> bool:
    """Whether ``function`` has a ``**kwargs`` parameter."""
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(function).parameters.values())


def params_type_of(factory: Callable[..., Any]) -> type | None:
    """The params dataclass a factory's simulator is built with: the ``params`` argument of its return type.

    Every shipped simulator follows ``make_simulator(...) -> SomeUser`` with ``SomeUser.__init__(...,
    params: SomeParams | None)``; a factory that does not gives None (its ``**kwargs`` stay unchecked).
    """
    returned = _resolved_hints(factory).get("return")
    if not inspect.isclass(returned):
        return None
    hint = _resolved_hints(returned.__init__).get("params")
    for candidate in typing.get_args(hint) or (hint,):
        if inspect.isclass(candidate) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def params_group(params_type: type) -> ArgumentGroup:
    """The fields of a params dataclass as an argument group."""
    hints = _resolved_hints(params_type)
    fields = dataclasses.fields(params_type)
    return ArgumentGroup(
        "parameters",
        {field.name: hints.get(field.name, _UNCHECKED) for field in fields},
        {field.name: field.default for field in fields if field.default is not dataclasses.MISSING},
    )


# -- type matching --------------------------------------------------------------------------------


def _protocol_members(protocol: type) -> set[str]:
    members: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (object, typing.Protocol, typing.Generic) or not getattr(klass, "_is_protocol", False):
            continue
        members |= {name for name in vars(klass) if not name.startswith("_") or name == "__call__"}
        members |= set(getattr(klass, "__annotations__", {}))
    return members


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is acceptable for the type hint ``hint`` (see the module docstring for numbers)."""
    if hint is _UNCHECKED or hint is Any or hint is object:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(matches(value, option) for option in typing.get_args(hint))
    if origin is typing.Literal:
        return any(value == option and type(value) is type(option) for option in typing.get_args(hint))
    if origin is not None:  # a generic alias: Mapping[str, float], list[int], ...
        return not inspect.isclass(origin) or isinstance(value, origin)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool | np.bool_)
    if hint is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str | os.PathLike)  # paths are often annotated str
    if not inspect.isclass(hint):
        return True
    if getattr(hint, "_is_protocol", False) and not getattr(hint, "_is_runtime_protocol", False):
        return all(hasattr(value, member) for member in _protocol_members(hint))
    return isinstance(value, hint)


def describe(hint: Any) -> str:
    """A type hint as a reader writes it: 'int', 'str | None', "'proportional' | 'logit'", 'float | Tensor'."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(describe(option) for option in typing.get_args(hint))
    if origin is typing.Literal:
        return " | ".join(repr(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if origin is not None:
        return getattr(origin, "__name__", str(hint))
    return getattr(hint, "__name__", str(hint))


# -- the check ------------------------------------------------------------------------------------


def check_arguments(kwargs: Mapping[str, Any], groups: list[ArgumentGroup], target: str, open_ended: bool) -> None:
    """Raise ConfigError for the first unknown name or badly typed value in ``kwargs``.

    ``target`` names what is being made (an env id) in the message; ``open_ended`` means a receiver
    takes ``**kwargs`` that cannot be listed, so unknown names are left to it.
    """
    known: dict[str, tuple[Any, ArgumentGroup]] = {}
    for group in groups:
        for name, hint in group.hints.items():
            known.setdefault(name, (hint, group))
    for name, value in kwargs.items():
        if name not in known:
            if open_ended:
                continue
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
            suggestion = f" Did you mean {' or '.join(close)}?" if close else ""
            listing = "; ".join(f"{group.label}: {', '.join(sorted(group.hints))}" for group in groups if group.hints)
            raise ConfigError(
                f"Unknown argument {name}={value!r} for {target}.{suggestion} Valid arguments: {listing}."
            )
        hint, group = known[name]
        if not matches(value, hint):
            default = group.defaults.get(name, inspect.Parameter.empty)
            example = (
                f", e.g. {name}={default!r}" if default is not inspect.Parameter.empty and default is not None else ""
            )
            raise ConfigError(
                f"{target}: argument {name} must be {describe(hint)}; got {value!r} ({type(value).__name__}). "
                f"Pass a value of type {describe(hint)}{example}."
            )

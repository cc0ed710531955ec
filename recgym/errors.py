"""Typed errors: every failure a user can cause names the bad value and the fix."""

from __future__ import annotations


class RecGymError(Exception):
    """Base class of every error recgym raises on purpose."""


class ConfigError(RecGymError, ValueError):
    """A constructor argument, parameter or option is invalid."""


class InvalidSlateError(RecGymError, ValueError):
    """An action is not a valid slate (shape, dtype, range or duplicates)."""


class DeviceError(RecGymError, RuntimeError):
    """The requested torch device is not available on this machine."""


class LoggedDataError(RecGymError, ValueError):
    """Logged bandit data cannot be used for off-policy evaluation (bad propensities, shapes or rewards)."""


class StoreError(RecGymError, RuntimeError):
    """A results store cannot be used as asked: another process holds it, or it changed underneath this one."""


class PolicyFileError(RecGymError, ValueError):
    """A saved policy cannot be written or read: not a policy file, truncated, foreign, or an unsaveable policy."""

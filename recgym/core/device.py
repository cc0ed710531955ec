"""Device resolution with an error that says what is available instead."""

from __future__ import annotations

import torch

from recgym.errors import DeviceError


def resolve_device(device: torch.device | str | None) -> torch.device:
    """A usable ``torch.device``; 'auto' or None picks CUDA when present, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise DeviceError(f"Unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'.") from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"Device {device!r} was requested but CUDA is not available here; use device='cpu' or 'auto'."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(
                f"Device {device!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist."
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"Device {device!r} was requested but MPS is not available here; use device='cpu'.")
    return resolved

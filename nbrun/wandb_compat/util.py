"""``wandb.util``: the helpers W&B integrations call."""

from __future__ import annotations

import importlib
import random
import string
import sys
from types import ModuleType
from typing import Any


def get_module(name: str, required: str | None = None, lazy: bool = True) -> ModuleType | None:
    """The module ``name`` if it can be imported, else None (or ImportError with
    ``required`` as the message)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if required:
            raise ImportError(required) from None
        return None


def generate_id(length: int = 8) -> str:
    """A random run id of ``a-z0-9`` (nbrun's alphabet)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(random.choice(alphabet) for _ in range(length))


def get_full_typename(o: Any) -> str:
    """``module.QualName`` of ``o``'s type (``o`` itself when a class)."""
    t = o if isinstance(o, type) else type(o)
    return f"{t.__module__}.{t.__qualname__}"


def is_pytorch_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def is_numpy_array(obj: Any) -> bool:
    """Whether ``obj`` is a numpy array (without importing numpy)."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, np.ndarray)


__all__ = [
    "generate_id",
    "get_full_typename",
    "get_module",
    "is_numpy_array",
    "is_pytorch_tensor",
]

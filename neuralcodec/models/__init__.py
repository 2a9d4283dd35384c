"""Model families (frequency-domain and time-domain) behind one interface, and their registry.

Imported lazily: the registry (manifest, hashes) needs no torch, so the transform family and
``muzip info`` never pay for importing it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CodecModel", "available_models", "build_model", "load_model"]


def __getattr__(name: str) -> Any:
    if name == "CodecModel":
        from .base import CodecModel

        return CodecModel
    if name in __all__:
        from . import registry

        return getattr(registry, name)
    raise AttributeError(name)

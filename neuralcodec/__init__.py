"""muzip: a neural music codec (package ``neuralcodec``, command ``muzip``).

The API is imported lazily so that tools which only need the container or the bench helpers do
not pay for importing torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MzpReader", "MzpWriter", "decode", "decode_batch", "decode_file", "encode", "encode_batch", "encode_file",
           "info"]
_ARRAYS = {"decode_batch", "encode_batch"}
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _ARRAYS:
        from . import arrays

        return getattr(arrays, name)
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(name)

"""numpy and torch at the API's edge, and batch calls for ML code.

``encode`` takes ``[channels, samples]`` audio as a numpy array or a torch tensor (any device, with
or without grad: it is detached and copied to the CPU, since the container stores integers);
``decode(..., as_tensor=True)`` returns a torch tensor. ``encode_batch``/``decode_batch`` take and
return ``[batch, channels, samples]``, the shape a data loader yields.

The batch calls run the items one after another through the same loaded model (the model cache
makes the load happen once); each item is an independent .mzp stream. torch is imported here only
when a tensor is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import MuzipError


def is_tensor(x: object) -> bool:
    """True for a torch tensor, without importing torch when the caller never did."""
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def to_numpy(audio: Any) -> np.ndarray:
    """float32 numpy view/copy of a numpy array, a nested list or a torch tensor (CPU or CUDA,
    requires_grad or not, any float dtype including bfloat16)."""
    if is_tensor(audio):
        t = audio.detach()
        if t.is_complex():
            raise MuzipError("audio must be real-valued, not a complex tensor")
        return np.asarray(t.to(device="cpu").float().numpy(), dtype=np.float32)
    a = np.asarray(audio)
    if np.iscomplexobj(a):
        raise MuzipError("audio must be real-valued, not complex")
    return a.astype(np.float32, copy=False)


def to_tensor(audio: np.ndarray, device: str | None = None) -> Any:
    """A torch tensor of ``audio`` (on ``device`` when given)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(audio))
    return t.to(device) if device else t


def encode_batch(audio: Any, sample_rate: int, bitrate: str | float = "16k", model: str = "mdct",
                 device: str = "auto", **kwargs: Any) -> list[bytes]:
    """Encode ``[batch, channels, samples]`` (array or tensor) or a sequence of ``[channels, samples]``
    items (lengths may differ) to one .mzp byte string per item. ``kwargs`` go to ``encode``."""
    from .api import encode

    items: Sequence[Any]
    if is_tensor(audio) or isinstance(audio, np.ndarray):
        if audio.ndim != 3:
            raise MuzipError(f"encode_batch expects [batch, channels, samples], got {list(audio.shape)}")
        items = [audio[i] for i in range(audio.shape[0])]
    else:
        items = list(audio)
    return [encode(x, sample_rate, bitrate=bitrate, model=model, device=device, **kwargs) for x in items]


def decode_batch(data: Sequence[bytes], device: str = "auto", as_tensor: bool = False) -> tuple[Any, int]:
    """Decode several .mzp byte strings to one ``[batch, channels, samples]`` array (or tensor) and
    the sample rate. Every item must have the same rate, channel count and length, as a training
    batch does; for ragged items call ``decode`` on each."""
    from .api import decode

    if not len(data):
        raise MuzipError("decode_batch needs at least one item")
    outs = [decode(d, device=device) for d in data]
    rates = {r for _, r in outs}
    shapes = {a.shape for a, _ in outs}
    if len(rates) > 1 or len(shapes) > 1:
        raise MuzipError(f"decode_batch needs items of one rate and shape, got rates {sorted(rates)} and "
                         f"shapes {sorted(shapes)}; decode them one by one instead")
    batch = np.stack([a for a, _ in outs])
    rate = outs[0][1]
    if as_tensor:
        from .api import resolve_device

        return to_tensor(batch, resolve_device(device)), rate
    return batch, rate

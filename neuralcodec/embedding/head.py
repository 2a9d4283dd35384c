"""The learned projection head: pooled statistics -> a shorter vector where segments of one track
lie close together at any bitrate and different tracks lie apart (fitted contrastively by
:mod:`neuralcodec.embedding.fit_head`).

Weights are an ``.npz`` of float32 arrays (``mean``, ``scale``, ``w0``, ``b0``, ``w1``, ``b1``)
plus ``meta`` (JSON as uint8), listed under ``"heads"`` in ``models/manifest.json`` with their
sha256; they are verified before loading and read with ``allow_pickle=False``. numpy only.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError, MuzipError


@dataclass
class Head:
    head_id: str  # "head-<sha8>"
    base: str  # the base model id whose integers it reads
    pooling: str
    mean: np.ndarray  # [P]
    scale: np.ndarray  # [P]
    layers: list[tuple[np.ndarray, np.ndarray]]  # (W [in, out], b [out]); ReLU between layers
    meta: dict

    @property
    def dim(self) -> int:
        return int(self.layers[-1][0].shape[1])

    def __call__(self, pooled: np.ndarray) -> np.ndarray:
        """``[N, P]`` pooled vectors -> ``[N, dim]`` unit vectors."""
        h = (np.asarray(pooled, np.float32) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i + 1 < len(self.layers):
                h = np.maximum(h, 0.0)
        return unit(h)


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


def to_bytes(mean: np.ndarray, scale: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]], meta: dict) -> bytes:
    arrays = {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
              "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)}
    for i, (w, b) in enumerate(layers):
        arrays[f"w{i}"], arrays[f"b{i}"] = w.astype(np.float32), b.astype(np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def from_bytes(blob: bytes, name: str) -> Head:
    digest = hashlib.sha256(blob).hexdigest()
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            layers = []
            while f"w{len(layers)}" in z.files:
                i = len(layers)
                layers.append((z[f"w{i}"].astype(np.float32), z[f"b{i}"].astype(np.float32)))
            mean, scale = z["mean"].astype(np.float32), z["scale"].astype(np.float32)
        base, pooling = str(meta["base"]), str(meta["pooling"])
    except (ValueError, KeyError, OSError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise MuzipError(f"{name}: not a muzip embedding head ({type(exc).__name__})") from None
    if not layers or mean.shape != scale.shape or layers[0][0].shape[0] != mean.shape[0]:
        raise MuzipError(f"{name}: embedding head arrays do not fit together")
    shapes_ok = all(w.ndim == 2 and b.shape == (w.shape[1],) for w, b in layers) and all(
        layers[i][0].shape[1] == layers[i + 1][0].shape[0] for i in range(len(layers) - 1))
    if not shapes_ok:
        raise MuzipError(f"{name}: embedding head arrays do not fit together")
    return Head(f"head-{digest[:8]}", base, pooling, mean, scale, layers, meta)


def _manifest_heads() -> list[dict]:
    from ..models.registry import models_dir

    path = models_dir() / "manifest.json"
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text()).get("heads", []))
    except (ValueError, AttributeError, TypeError):
        raise ModelNotFoundError(f"{path}: model manifest is unreadable") from None


_CACHE: dict[str, Head] = {}


def shipped_head(base: str) -> Head | None:
    """The installed head for base model ``base`` (verified), or None when there is none."""
    from ..models.registry import models_dir

    for entry in _manifest_heads():
        if entry.get("base") != base:
            continue
        path = models_dir() / str(entry["file"])
        key = str(path)
        if key not in _CACHE:
            if not path.exists():
                raise ModelNotFoundError(f"embedding head {path} is missing")
            blob = path.read_bytes()
            if hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
                raise ModelNotFoundError(f"{path}: sha256 mismatch (file is damaged or replaced)")
            _CACHE[key] = from_bytes(blob, str(path))
        return _CACHE[key]
    return None


def load_head(spec: str, base: str) -> Head | None:
    """``"auto"``: the shipped head for ``base`` if any; ``"none"``: no head; else a file path
    (a user's head: read without pickle, and it must be made for ``base``)."""
    if spec == "none":
        return None
    if spec == "auto":
        return shipped_head(base)
    p = Path(spec)
    if not p.is_file():
        raise MuzipError(f"{p}: no such embedding head file")
    head = from_bytes(p.read_bytes(), str(p))
    if head.base != base:
        raise MuzipError(f"{p}: this head reads model '{head.base}', not '{base}'")
    return head

"""Find, verify and load pretrained models from the top-level ``models/`` folder.

Weights are ``<family>-<sha8>.pt`` files holding ``{"config": dict, "state_dict": ...}``, loaded
with ``weights_only=True`` (no pickle code runs) after their sha256 is checked against
``models/manifest.json``. Tests register tiny in-memory models with :func:`register_model`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelNotFoundError

if TYPE_CHECKING:  # torch is imported only where a network is built or loaded
    import torch

    from .base import CodecModel, ModelConfig

FAMILIES = ("freq", "time")


@dataclass
class ModelEntry:
    model_id: str  # e.g. "freq-1a2b3c4d"
    family: str
    sha256: str
    path: Path | None
    card: dict


_MEMORY: dict[str, tuple[ModelEntry, CodecModel]] = {}
_CACHE: dict[tuple[str, str], CodecModel] = {}


def models_dir() -> Path:
    """``$MUZIP_MODELS`` if set, else the repository's ``models/`` beside the package."""
    env = os.environ.get("MUZIP_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def build_model(config: ModelConfig | dict) -> CodecModel:
    """Construct an (untrained) model of the family the config names."""
    from .base import ModelConfig

    if isinstance(config, dict):
        config = ModelConfig(**config)
    if config.family == "freq":
        from .freq import FreqCodec

        return FreqCodec(config)
    if config.family == "time":
        from .time import TimeCodec

        return TimeCodec(config)
    raise ModelNotFoundError(f"unknown model family '{config.family}' (known: {', '.join(FAMILIES)})")


def _manifest() -> list[ModelEntry]:
    path = models_dir() / "manifest.json"
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
        out = []
        for m in data.get("models", []):
            out.append(ModelEntry(str(m["id"]), str(m["family"]), str(m["sha256"]), models_dir() / str(m["file"]), m))
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ModelNotFoundError(f"{path}: model manifest is unreadable ({type(exc).__name__}: {exc})") from None
    return out


def available_models() -> list[ModelEntry]:
    """Installed entries: in-memory test models first, then the manifest (newest last)."""
    return [e for e, _ in _MEMORY.values()] + _manifest()


def register_model(model_id: str, model: CodecModel, family: str | None = None) -> ModelEntry:
    """Make an in-memory model loadable by id (tests use tiny random models this way)."""
    digest = hashlib.sha256(model_id.encode()).hexdigest()
    entry = ModelEntry(model_id, family or model.config.family, digest, None, {"id": model_id})
    model.freeze_prior()
    _MEMORY[model_id] = (entry, model.eval())
    return entry


def resolve(name: str) -> ModelEntry:
    """A family name ('freq', 'time') picks the default model of that family; else an exact id."""
    entries = available_models()
    for e in entries:
        if e.model_id == name:
            return e
    family = [e for e in entries if e.family == name and e.card.get("default", True)]
    if family:
        return family[-1]
    known = ", ".join(sorted({e.model_id for e in entries} | {e.family for e in entries})) or "none"
    raise ModelNotFoundError(f"model '{name}' is not installed (installed: {known})")


def hash_matches(full: str, given: str) -> bool:
    """Exact comparison of a file's weights hash (16 or 64 lowercase hex digits) with an entry's.

    Only those two lengths count: a shorter (or empty) string would match any weights by prefix.
    """
    return (len(given) in (16, 64) and all(c in "0123456789abcdef" for c in given)
            and len(full) == 64 and full[: len(given)] == given)


def find_by_hash(model_id: str, sha_prefix: str) -> ModelEntry:
    """The entry a file was made with; a mismatched hash means other weights, which would decode noise."""
    for e in available_models():
        if e.model_id == model_id and hash_matches(e.sha256, sha_prefix):
            return e
    from ..header import printable

    raise ModelNotFoundError(
        f"this file needs model '{printable(model_id)}' (sha256 {printable(sha_prefix)}...), which is not "
        f"installed; install the muzip version that made it or put its weights in {models_dir()}"
    )


def load_model(entry: ModelEntry, device: str = "cpu") -> CodecModel:
    """Load (and cache) a verified model on ``device``."""
    key = (entry.model_id, device)
    if key in _CACHE:
        return _CACHE[key]
    if entry.model_id in _MEMORY:
        model = _MEMORY[entry.model_id][1]
    else:
        assert entry.path is not None
        if not entry.path.exists():
            raise ModelNotFoundError(f"weights file {entry.path} is missing")
        blob = entry.path.read_bytes()  # read once: the bytes hashed are the bytes loaded
        digest = hashlib.sha256(blob).hexdigest()
        if digest != entry.sha256:
            raise ModelNotFoundError(f"{entry.path}: sha256 mismatch (file is damaged or replaced)")
        try:
            import torch

            state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
            model = build_model(state["config"])
            model.load_state_dict(state["state_dict"])
        except ModelNotFoundError:
            raise
        except Exception as exc:  # the manifest's hash matched, so the manifest itself is wrong
            raise ModelNotFoundError(f"{entry.path}: weights cannot be loaded ({type(exc).__name__})") from None
    model = model.to(device).eval()
    _CACHE[key] = model
    return model


def save_weights(model: CodecModel, folder: Path, extra_card: dict, dtype: torch.dtype | None = None) -> dict:
    """Freeze the prior, write ``<family>-<sha8>.pt`` and return its manifest entry."""
    import io

    import torch

    model.freeze_prior()
    buf = io.BytesIO()
    sd = {k: (v.detach().cpu().to(dtype) if dtype is not None and v.is_floating_point() else v.detach().cpu()).contiguous()
          for k, v in model.state_dict().items()}
    torch.save({"config": model.config.to_dict(), "state_dict": sd}, buf)
    blob = buf.getvalue()
    digest = hashlib.sha256(blob).hexdigest()
    name = f"{model.config.family}-{digest[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pt").write_bytes(blob)
    entry = {"id": name, "family": model.config.family, "file": f"{name}.pt", "sha256": digest,
             "sample_rate": model.config.sample_rate, "bytes": len(blob)}
    entry.update(extra_card)
    return entry

"""The training loop runs on CPU, lowers its loss on generated audio, resumes, and exports weights."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from neuralcodec.models.registry import build_model
from neuralcodec.train import TrainConfig, export, run, train_step

TINY = {"latent_dim": 8, "context_frames": 8,
        "extra": {"fine_dim": 16, "dim": 32, "enc_blocks": 1, "dec_blocks": 1, "fine_blocks": 1}}


def test_train_resume_and_export(tmp_path: Path) -> None:
    cfg = TrainConfig(model="freq", steps=4, batch=2, frames=8, val_every=2, ckpt_every=2, threads=1)
    run(cfg, None, tmp_path / "run", quiet=True, model_overrides=dict(TINY, extra=dict(TINY["extra"])))
    hist = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [2, 4]
    assert all(h["kbps@0"] >= 0 for h in hist)
    cfg.steps = 6
    run(cfg, None, tmp_path / "run", quiet=True)  # resumes from step 4
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 6
    entry = export(tmp_path / "run" / "checkpoint.pt", tmp_path / "models", {"note": "test"})
    weights = tmp_path / "models" / entry["file"]
    assert weights.exists() and entry["id"].startswith("freq-") and entry["sha256"][:8] in entry["id"]
    loaded = torch.load(weights, weights_only=True)
    assert build_model(loaded["config"]).load_state_dict(loaded["state_dict"]) is not None


def test_loss_decreases_on_generated_audio() -> None:
    torch.manual_seed(0)
    from neuralcodec.models.freq import freq_config
    from neuralcodec.train import synthetic_batches, to_mono_views

    model = build_model(freq_config(**dict(TINY, extra=dict(TINY["extra"]))))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    x = to_mono_views(next(synthetic_batches(2, 8 * 1024, 0)), random.Random(0))
    cfg = TrainConfig(batch=2, frames=8)
    losses = []
    for i in range(15):
        terms = train_step(model, x, cfg, random.Random(i))
        opt.zero_grad()
        terms["dist"].backward()
        opt.step()
        losses.append(float(terms["dist"].detach()))
    assert min(losses[-3:]) < losses[0]


def test_exported_weights_load_verified_and_refuse_damage(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Export -> manifest -> registry -> encode/decode; a damaged weights file is refused by hash."""
    import numpy as np
    import pytest

    import neuralcodec as nc
    from neuralcodec.errors import ModelNotFoundError
    from neuralcodec.models import registry
    from neuralcodec.train import update_manifest

    cfg = TrainConfig(model="freq", steps=1, batch=1, frames=8, val_every=1, ckpt_every=1, threads=1)
    run(cfg, None, tmp_path / "run", quiet=True, model_overrides=dict(TINY, extra=dict(TINY["extra"])))
    entry = export(tmp_path / "run" / "checkpoint.pt", tmp_path / "models", {"bitrate_range_kbps": [6, 64]})
    update_manifest(tmp_path / "models", entry)
    monkeypatch.setenv("MUZIP_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(registry, "_CACHE", {})
    x = (0.1 * np.sin(np.arange(44100) / 7.0)).astype(np.float32)[None]
    y, rate = nc.decode(nc.encode(x, 44100, "16k", model="freq", device="cpu"))
    assert y.shape == x.shape and rate == 44100
    with pytest.raises(Exception, match="outside what model"):
        nc.encode(x, 44100, "128k", model="freq")
    weights = tmp_path / "models" / entry["file"]
    blob = bytearray(weights.read_bytes())
    blob[-100] ^= 0xFF
    weights.write_bytes(bytes(blob))
    monkeypatch.setattr(registry, "_CACHE", {})
    with pytest.raises(ModelNotFoundError, match="sha256 mismatch"):
        nc.encode(x, 44100, "16k", model="freq")

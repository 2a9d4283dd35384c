"""Shared fixtures: tiny randomly initialised models of both families (tests only, never defaults)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from neuralcodec.models.freq import FreqCodec, freq_config
from neuralcodec.models.registry import register_model
from neuralcodec.models.time import TimeCodec, time_config

TINY_FREQ = "tiny-freq"
TINY_TIME = "tiny-time"
FAMILIES = (TINY_FREQ, TINY_TIME)


def _tiny_models() -> None:
    torch.manual_seed(0)
    f = FreqCodec(freq_config(latent_dim=16, context_frames=8,
                              extra={"fine_dim": 16, "dim": 32, "enc_blocks": 1, "dec_blocks": 1, "fine_blocks": 1}))
    with torch.no_grad():
        f.prior_log2_scale.fill_(-1.0)
    register_model(TINY_FREQ, f)
    torch.manual_seed(1)
    t = TimeCodec(time_config(latent_dim=16, context_frames=8,
                              extra={"channels": 16, "strides": [128, 8], "dim": 32, "blocks": 1, "res_kernel": 3}))
    register_model(TINY_TIME, t)


_tiny_models()
torch.set_num_threads(1)


def music_like(seconds: float, rate: int = 44100, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Deterministic test signal: a few harmonic tones plus a little noise, ``[channels, samples]``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros((channels, t.size), np.float32)
    for c in range(channels):
        for f0 in (220.0 * (c + 1), 330.0, 587.0):
            out[c] += (0.15 * np.sin(2 * np.pi * f0 * t + c)).astype(np.float32)
        out[c] += rng.normal(0, 0.01, t.size).astype(np.float32)
    return out


@pytest.fixture
def wav(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Factory writing a test WAV and returning its path."""
    def make(name: str = "x.wav", seconds: float = 3.0, rate: int = 44100, channels: int = 2, seed: int = 0) -> Path:
        p = tmp_path / name
        sf.write(p, music_like(seconds, rate, channels, seed).T, rate, subtype="PCM_16")
        return p

    return make


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """Run ``muzip ARGS`` in-process through main(): (exit code, stdout, stderr), as a user sees them."""
    import contextlib
    import io

    from neuralcodec.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


"""Shared helpers for the bench tests: deterministic music-like test audio.

Not a conftest.py on purpose: the top-level tests/conftest.py is imported as ``conftest``
by other test modules, and a second conftest module here would shadow it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def synth_music(seconds: float, sr: int = 44100, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Harmonic chords with vibrato plus percussive noise bursts, float32 ``[channels, samples]``.

    Broadband enough that bandwidth loss shows in the spectral metrics, tonal enough that
    codecs behave as they do on music.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    mono = np.zeros(n)
    for k, f0 in enumerate((196.0, 247.0, 294.0, 392.0)):
        phase = 2 * np.pi * f0 * t + 0.3 * np.sin(2 * np.pi * 5.0 * t) + rng.uniform(0, 2 * np.pi)
        for h in range(1, 9):
            mono += 0.06 / (h * (k + 1) ** 0.5) * np.sin(h * phase)
    envelope = np.exp(-((t * 3.0) % 1.0) * 12.0)
    mono += 0.12 * envelope * rng.standard_normal(n)
    out = np.empty((channels, n))
    for c in range(channels):
        out[c] = mono * (1.0 - 0.25 * c) + 0.01 * rng.standard_normal(n)
    return (0.8 * out / np.max(np.abs(out))).astype(np.float32)


def write_music(
    path: Path, seconds: float = 5.0, sr: int = 44100, channels: int = 2, seed: int = 0
) -> Path:
    """Write a synthetic 16-bit clip to ``path`` (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), synth_music(seconds, sr, channels, seed).T, sr, subtype="PCM_16")
    return path

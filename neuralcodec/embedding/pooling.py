"""Frames ``[T, D]`` -> one vector that keeps more than a mean ("stats-v1").

The blocks, in order (D = frame size, L = ``LAGS``):

- shape: per-dimension mean of the frame minus the frame's own mean (the loudness-free spectral
  shape for the envelope) [D]
- spread: per-dimension standard deviation over time [D]
- flux: per-dimension mean absolute frame-to-frame change [D]
- loudness: mean and standard deviation of the per-frame mean [2]
- correlation: the upper triangle of the dimensions' correlation matrix over time [D (D - 1) / 2]
- rhythm: the autocorrelation of the onset strength (mean positive change per frame) at lags
  1..L frames, normalised by lag 0 (metre and tempo; ~2 s at 43 frames/s) [L]

Each block is scaled by a fixed constant (``UNITS``) so that the blocks have comparable ranges;
search-time standardisation and the learned head live in :mod:`neuralcodec.embedding.head`.
"""

from __future__ import annotations

import numpy as np

POOLING = "stats-v1"
PITCH = "pitch-v1"
PITCH_DIM = 42
LAGS = 86
UNITS = {"shape": 10.0, "spread": 5.0, "flux": 2.0, "loudness": 20.0}  # dB-scaled frames


def pooled_dim(d: int) -> int:
    return 3 * d + 2 + d * (d - 1) // 2 + LAGS


def pool(frames: np.ndarray, units: bool = True) -> np.ndarray:
    """One vector from ``frames [T, D]`` (T >= 2); float32 ``[pooled_dim(D)]``."""
    x = np.asarray(frames, np.float64)
    t, d = x.shape
    if t < 2:
        raise ValueError("pooling needs at least 2 frames")
    u = UNITS if units else dict.fromkeys(UNITS, 1.0)
    loud = x.mean(axis=1)
    shape = (x - loud[:, None]).mean(axis=0)
    spread = x.std(axis=0)
    dx = np.diff(x, axis=0)
    flux = np.abs(dx).mean(axis=0)
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc / t
    sd = np.sqrt(np.diag(cov))
    ok = sd > 1e-6
    corr = np.zeros_like(cov)
    corr[np.ix_(ok, ok)] = cov[np.ix_(ok, ok)] / np.outer(sd[ok], sd[ok])
    iu = np.triu_indices(d, 1)
    onset = np.maximum(dx, 0.0).mean(axis=1)
    onset = onset - onset.mean()
    n = onset.size
    spec = np.fft.rfft(onset, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[: LAGS + 1]
    rhythm = np.zeros(LAGS)
    if ac[0] > 1e-12:
        k = min(LAGS, n - 1)
        rhythm[:k] = ac[1 : k + 1] / ac[0]
    v = np.concatenate([shape / u["shape"], spread / u["spread"], flux / u["flux"],
                        [loud.mean() / u["loudness"], loud.std() / u["loudness"]], corr[iu], rhythm])
    return v.astype(np.float32)


def segment_bounds(n_frames: int, rate: float, seconds: float | None) -> list[tuple[int, int]]:
    """Frame ranges ``[a, b)`` of consecutive segments of ``seconds`` (None: the whole file). The
    last segment is kept when it holds at least half a segment (else it joins the one before)."""
    if seconds is None or n_frames <= 2:
        return [(0, n_frames)]
    size = max(2, int(round(seconds * rate)))
    bounds = [(a, min(a + size, n_frames)) for a in range(0, n_frames, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < size // 2:
        bounds[-2] = (bounds[-2][0], bounds[-1][1])
        bounds.pop()
    return bounds


def pool_pitch(chroma: np.ndarray) -> np.ndarray:
    """``pitch-v1`` from per-frame pitch-class energy ``[T, 12]`` (frames without energy are
    skipped): the mean profile, the same rotated to start at its strongest class (a key-free view),
    the per-class spread, and the profile's circular autocorrelation at 1..6 semitones (interval
    content: thirds, fifths); float32 ``[PITCH_DIM]``, all zero when no frame has energy."""
    c = np.asarray(chroma, np.float64)
    total = c.sum(axis=1)
    keep = total > 1e-12
    if not keep.any():
        return np.zeros(PITCH_DIM, np.float32)
    p = c[keep] / total[keep, None]
    mean = p.mean(axis=0)
    rot = np.roll(mean, -int(np.argmax(mean)))
    ac = np.array([mean @ np.roll(mean, j) for j in range(1, 7)]) / max(float(mean @ mean), 1e-12)
    return np.concatenate([mean, rot, p.std(axis=0), ac]).astype(np.float32)

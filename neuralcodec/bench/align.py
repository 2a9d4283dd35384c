"""Delay alignment between a reference and a decoded signal.

Codecs add a fixed delay (MP3 encoder/decoder padding, filter latency, model look-ahead).
Sample-wise metrics (SI-SDR, MSE, MAE, R^2) would punish that delay as if it were
distortion, so the delay is estimated by cross-correlation and removed first.
"""

from __future__ import annotations

import math

import numpy as np


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Mid (mean of the channels) of ``[channels, samples]``, or a 1-D signal unchanged."""
    audio = np.asarray(audio)
    return audio if audio.ndim == 1 else audio.mean(axis=0)


def estimate_delay(
    reference: np.ndarray,
    degraded: np.ndarray,
    max_lag: int,
    center: int = 0,
    max_samples: int = 1 << 21,
) -> int:
    """Delay ``d`` (samples) by which ``degraded`` lags ``reference``: ``deg[n + d] ~ ref[n]``.

    Searches ``center - max_lag .. center + max_lag`` for the peak of the (signed) FFT
    cross-correlation of the mono mids. A negative ``d`` means the decoded signal leads.
    Only the first ``max_samples`` of the reference take part (a codec's delay is constant,
    and this bounds memory on long tracks). Returns ``center`` when either signal is silent.
    """
    if max_lag < 0:
        raise ValueError("max_lag must be >= 0")
    ref = to_mono(reference)[:max_samples].astype(np.float64)
    deg = to_mono(degraded)[: max_samples + abs(center) + max_lag].astype(np.float64)
    if ref.size == 0 or deg.size == 0 or not np.any(ref) or not np.any(deg):
        return int(center)
    n = int(2 ** math.ceil(math.log2(ref.size + deg.size)))
    # corr[k] = sum_n deg[n + k] * ref[n]; negative k wrap around to the end.
    corr = np.fft.irfft(np.fft.rfft(deg, n) * np.conj(np.fft.rfft(ref, n)), n)
    lags = np.arange(center - max_lag, center + max_lag + 1)
    lags = lags[(lags > -ref.size) & (lags < deg.size)]
    if lags.size == 0:
        return int(center)
    values = corr[lags % n]
    return int(lags[int(np.argmax(values))])


def apply_delay(degraded: np.ndarray, delay: int, length: int) -> np.ndarray:
    """Shift ``degraded`` ``[channels, samples]`` back by ``delay`` and fit it to ``length``.

    Missing samples (a decoder that returned too little, or a negative delay) become zeros,
    so a truncated output is penalised rather than hidden by cropping the reference.
    """
    degraded = np.atleast_2d(degraded)
    out = np.zeros((degraded.shape[0], length), dtype=degraded.dtype)
    if delay >= 0:
        chunk = degraded[:, delay : delay + length]
        out[:, : chunk.shape[1]] = chunk
    else:
        chunk = degraded[:, : max(0, length + delay)]
        out[:, -delay : -delay + chunk.shape[1]] = chunk
    return out


def align(
    reference: np.ndarray, degraded: np.ndarray, max_lag: int, center: int = 0
) -> tuple[np.ndarray, int]:
    """Return ``degraded`` aligned to ``reference`` (same shape) and the delay that was removed."""
    delay = estimate_delay(reference, degraded, max_lag, center)
    return apply_delay(degraded, delay, np.atleast_2d(reference).shape[1]), delay


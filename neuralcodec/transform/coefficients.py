"""Coefficient quantization (dead zone), reconstruction, and the magnitude buckets the coder sees.

``|q| = floor(|x| / step + ROUND)``: a rounding offset below 1/2 widens the zero bin, which costs
little distortion and saves many bits. Reconstruction shrinks non-zero values toward zero by
``BIAS`` steps (the centroid of a peaked distribution inside its cell).

Magnitudes are coded as a bucket (0..7 exactly, then two buckets per octave up to 2**15) plus the
offset inside the bucket as raw bits: tables stay small and large values cost what they should.
"""

from __future__ import annotations

import numpy as np

ROUND = 0.35
BIAS = 0.0
N_DIRECT = 8
MAX_MAG = (1 << 15) - 1
N_BUCKETS = N_DIRECT + 2 * (15 - 3)  # 32


def quantize(x: np.ndarray, step: np.ndarray) -> np.ndarray:
    q = np.floor(np.abs(x) / step + ROUND)
    return (np.sign(x) * np.minimum(q, MAX_MAG)).astype(np.int64)


def dequantize(q: np.ndarray, step: np.ndarray) -> np.ndarray:
    a = np.abs(q).astype(np.float64)
    return np.sign(q) * np.maximum(a - BIAS, 0.0) * step


def _octave(a: np.ndarray) -> np.ndarray:
    """floor(log2 a) for integers a >= 1, exactly."""
    o = np.zeros(a.shape, dtype=np.int64)
    v = a.copy()
    for shift in (8, 4, 2, 1):
        big = v >= (1 << shift)
        o[big] += shift
        v[big] >>= shift
    return o


def to_buckets(mag: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitudes -> (bucket, extra-bit count, extra value)."""
    mag = mag.astype(np.int64)
    bucket = mag.copy()
    nbits = np.zeros_like(mag)
    extra = np.zeros_like(mag)
    big = mag >= N_DIRECT
    if big.any():
        v = mag[big]
        o = _octave(v)
        half = (v >> (o - 1)) & 1
        bucket[big] = N_DIRECT + 2 * (o - 3) + half
        nbits[big] = o - 1
        extra[big] = v & ((1 << (o - 1)) - 1)
    return bucket, nbits, extra


def bucket_bits(bucket: np.ndarray) -> np.ndarray:
    """Extra raw bits that follow a bucket."""
    b = np.asarray(bucket, dtype=np.int64)
    o = 3 + (b - N_DIRECT) // 2
    return np.where(b < N_DIRECT, 0, o - 1)


def from_buckets(bucket: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Magnitudes from buckets and their extra values (None: each bucket's lower edge)."""
    b = np.asarray(bucket, dtype=np.int64)
    out = b.copy()
    big = b >= N_DIRECT
    if big.any():
        v = b[big] - N_DIRECT
        o = 3 + v // 2
        out[big] = (1 << o) + (v % 2) * (1 << (o - 1)) + (0 if extra is None else extra[big])
    return out


def bucket_edges() -> np.ndarray:
    """Lower magnitude of each bucket and the top (for analytic tables): ``[N_BUCKETS + 1]``."""
    lo = from_buckets(np.arange(N_BUCKETS), np.zeros(N_BUCKETS, np.int64))
    return np.concatenate([lo, [MAX_MAG + 1]])

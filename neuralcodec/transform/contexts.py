"""What each entropy model conditions on: only integers the decoder already holds.

Envelope: the residual ``r`` of band ``b`` against the previous frame (inter) or against band
``b - 1`` (intra: the first frame of a packet, so packets decode alone and seeking works), in the
context of the band and the residual just coded below it.

Coefficients: the frame type, the allocation ratio ``g = L - s`` (rms over step, 1/8 octave) and the
magnitude the same bin had in the previous frame relative to this frame's step (tonal parts repeat).
"""

from __future__ import annotations

import numpy as np

from .allocation import G_MAX, G_MIN
from .bands import N_BANDS
from .mdct import SHORT

ENV_R = 90  # residual alphabet [-ENV_R, ENV_R]
ENV_ALPHABET = 2 * ENV_R + 1
ENV_CTX = 6  # clamp(r_{b-1}, -2, 2) + 2, or 5 for the first band
ENV_REF_LEVEL = -64  # intra prediction of band 0: -48 dB, in 1/8 octave

N_G = G_MAX - G_MIN + 1
N_PREV = 6  # 0 unknown, 1 zero, 2 < 1/2 step, 3 < 2 steps, 4 < 8 steps, 5 larger


def env_residuals(env: np.ndarray, m: int, prev: np.ndarray | None) -> np.ndarray:
    """``env [n, bands]`` -> residuals ``[n, bands]``; frame 0 is intra (``prev`` None) or inter."""
    r = np.empty_like(env)
    ref = np.full(N_BANDS, _ref(m), dtype=np.int64)
    first_prev = prev
    r[1:] = env[1:] - env[:-1]
    if first_prev is None:
        r[0, 0] = env[0, 0] - ref[0]
        r[0, 1:] = env[0, 1:] - env[0, :-1]
    else:
        r[0] = env[0] - first_prev
    return r


def _ref(m: int) -> int:
    return int(round(ENV_REF_LEVEL / m))


def env_from_residuals(r: np.ndarray, m: int) -> np.ndarray:
    """Inverse of :func:`env_residuals` for a packet (frame 0 intra)."""
    env = np.empty_like(r)
    env[0] = _ref(m) + np.cumsum(r[0])
    env[1:] = r[1:]
    return np.cumsum(env, axis=0)


def env_context(r_below: np.ndarray | None, n: int) -> np.ndarray:
    """Context of band b from the residual of band b - 1 (None for the first band)."""
    if r_below is None:
        return np.full(n, ENV_CTX - 1, dtype=np.int64)
    return np.clip(r_below, -2, 2) + 2


def g_class(g: np.ndarray) -> np.ndarray:
    return np.clip(g, G_MIN, G_MAX) - G_MIN


_LQ = np.floor(8 * np.log2(np.arange(1, 1 << 15))).astype(np.int64)  # exact: see bands docstring


def prev_class(q_prev: np.ndarray | None, s_prev: np.ndarray | None, s_now: np.ndarray,
               same_type: bool) -> np.ndarray:
    """Previous-frame magnitude relative to this frame's step, per bin."""
    if q_prev is None or not same_type:
        return np.zeros(s_now.shape, dtype=np.int64)
    a = np.abs(q_prev)
    lr = _LQ[np.maximum(a, 1) - 1] + (s_prev - s_now)
    cls = np.where(lr < -8, 2, np.where(lr < 8, 3, np.where(lr < 24, 4, 5)))
    return np.where(a == 0, 1, cls).astype(np.int64)


def coef_context(types_t: int, g: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Flat row index into a coefficient table ``[2, N_G, N_PREV, buckets]``."""
    return (int(types_t == SHORT) * N_G + g_class(g)) * N_PREV + prev

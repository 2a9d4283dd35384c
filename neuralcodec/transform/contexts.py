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
ENV_BELOW = 6  # clamp(r_{b-1}, -2, 2) + 2, or 5 for the first band
ENV_ROWS = 2 * N_BANDS * ENV_BELOW * 2 * 3  # intra/inter x band x below x frame type x level below
ENV_REF_LEVEL = -64  # intra prediction of band 0: -48 dB, in 1/8 octave

N_G = G_MAX - G_MIN + 1
N_PREV = 6  # 0 unknown, 1 zero, 2 < 1/2 step, 3 < 2 steps, 4 < 8 steps, 5 larger
N_PREV_NBR = 4  # max magnitude of bins k-1, k+1 in the previous frame: 0, 1, 2, >= 3
N_CUR_NBR = 5  # odd bins: sum of magnitudes of the even bins k-1, k+1 of this frame: 0 .. >= 4
COEF_ROWS = 2 * N_G * N_PREV * N_PREV_NBR * N_CUR_NBR * 2


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


def env_rows(intra: np.ndarray, band: int, r_below: np.ndarray | None, types: np.ndarray,
             level_below: np.ndarray | None) -> np.ndarray:
    """Envelope table rows for band ``band`` of every frame of a packet.

    Context: intra or inter, the band, the residual just coded below it (5 classes; a 6th for the
    first band), the frame type, and the level of the band below (3 classes: near silence,
    quiet, loud). Everything comes from lower bands, which are decoded first for all frames.
    """
    n = intra.size
    below = np.full(n, ENV_BELOW - 1, dtype=np.int64) if r_below is None else np.clip(r_below, -2, 2) + 2
    if level_below is None:
        lvl = np.full(n, 2, dtype=np.int64)
    else:
        lvl = np.where(level_below < -100, 0, np.where(level_below < -60, 1, 2))
    short = (types == SHORT).astype(np.int64)
    return (((intra * N_BANDS + band) * ENV_BELOW + below) * 2 + short) * 3 + lvl


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


def prev_neighbours(lower_prev: np.ndarray | None, same_type: np.ndarray | bool) -> np.ndarray | None:
    """Class of max(|q[k-1]|, |q[k+1]|) in the previous frame (``[.., N]`` bucket lower edges)."""
    if lower_prev is None:
        return None
    nb = np.zeros_like(lower_prev)
    nb[..., 1:-1] = np.maximum(lower_prev[..., :-2], lower_prev[..., 2:])
    nb[..., 0], nb[..., -1] = lower_prev[..., 1], lower_prev[..., -2]
    out = np.minimum(nb, N_PREV_NBR - 1)
    return np.where(np.asarray(same_type)[..., None] if np.ndim(same_type) else same_type, out, 0)


def cur_neighbours(lower_cur: np.ndarray) -> np.ndarray:
    """For odd bins: class of |q[k-1]| + |q[k+1]| of this frame (even bins, already decoded)."""
    nb = np.zeros_like(lower_cur)
    nb[..., 1:-1] = lower_cur[..., :-2] + lower_cur[..., 2:]
    nb[..., -1] = lower_cur[..., -2]
    return np.minimum(nb, N_CUR_NBR - 1)


def coef_context(types_t: int | np.ndarray, g: np.ndarray, prev: np.ndarray, prev_nbr: np.ndarray | int,
                 cur_nbr: np.ndarray | int, parity: np.ndarray | int) -> np.ndarray:
    """Flat row into a coefficient table ``[2, N_G, N_PREV, N_PREV_NBR, N_CUR_NBR, 2, buckets]``.

    Even bins are coded first (``parity`` 0, ``cur_nbr`` 0), then odd bins with their decoded even
    neighbours as context: two range-coder calls per frame give every odd bin a same-frame context.
    """
    short = (np.asarray(types_t) == SHORT).astype(np.int64)
    row = (short * N_G + g_class(g)) * N_PREV + prev
    return ((row * N_PREV_NBR + prev_nbr) * N_CUR_NBR + cur_nbr) * 2 + parity

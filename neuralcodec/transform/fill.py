"""Noise fill: what the decoder puts into coefficients the bits left at zero.

Each band knows its energy from the envelope; the energy the coded coefficients do not explain is
spread over the band's zeroed bins as noise, weighted by each bin's level (short frames: the
sub-block profile, so no noise is sprayed before an attack) and capped below the dead zone (a
zeroed bin was smaller than ``(1 - ROUND) * step``). As the step shrinks fewer bins are zero and the
fill fades out by construction. The noise is deterministic (seeded by frame and channel).
"""

from __future__ import annotations

import numpy as np

from .bands import EDGES
from .coefficients import ROUND

FILL_GAIN = 0.35  # share of the missing energy restored (measured: lower LSD and higher SI-SDR than 1.0)
CAP = (1.0 - ROUND) / np.sqrt(3.0)  # rms of a uniform draw over the dead zone, in steps


def noise_fill(xhat: np.ndarray, q: np.ndarray, level_power: np.ndarray, step: np.ndarray,
               silent: np.ndarray, seed: int, gain: float = FILL_GAIN) -> np.ndarray:
    """Fill zeros of ``xhat [F, N]`` (dequantized) in place and return it.

    ``level_power [F, N]``: the power each bin's decoded level stands for (``2 ** (L / 4)``).
    """
    zero = (q == 0) & ~silent
    if not zero.any():
        return xhat
    target = np.add.reduceat(level_power, EDGES[:-1], axis=1)
    coded = np.add.reduceat(np.square(xhat), EDGES[:-1], axis=1)
    zero_w = np.add.reduceat(np.where(zero, level_power, 0.0), EDGES[:-1], axis=1)
    missing = np.maximum(target - coded, 0.0) * gain
    per_w = np.where(zero_w > 0, missing / np.maximum(zero_w, 1e-300), 0.0)
    width = np.diff(EDGES)
    rms = np.sqrt(np.repeat(per_w, width, axis=1) * level_power)
    rms = np.minimum(rms, CAP * step)
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=xhat.shape)
    xhat[zero] = (noise * rms)[zero]
    return xhat

"""The shared allocation rule: quantizer step per coefficient from what the decoder already has.

``step index s = D + TILT_b + floor(alpha16 * L / 16)`` in 1/8 octave, with ``L`` the coefficient's
decoded level (:func:`envelope.coefficient_levels`), ``D`` the file's global offset (rate control)
and ``alpha16 / 16`` the level exponent: step ~ rms^0.69 gives loud bands finer steps relative to
their level, which the prototype measured as the single biggest lever (+0.6-3.6 dB SI-SDR). The
ratio ``g = L - s`` (rms over step, 1/8 octave) is the context every coefficient model starts from.
Integers only: encoder and decoder evaluate the same rule bit for bit.
"""

from __future__ import annotations

import numpy as np

from .bands import BAND_OF_BIN, TILT

G_MIN = -16  # below: the band is not coded (its rms is under 1/4 step); all zeros, noise fill only
G_MAX = 79   # contexts above are pooled
_TILT_BIN = TILT[BAND_OF_BIN].astype(np.int32)


def step_indices(levels: np.ndarray, d: int, alpha16: int) -> np.ndarray:
    """``[F, N]`` integer step index per coefficient."""
    return d + _TILT_BIN[None, :] + (alpha16 * levels) // 16


_STEP_OFFSET = 1024
_STEPS = np.power(2.0, (np.arange(2 * _STEP_OFFSET) - _STEP_OFFSET) / 8.0)  # 2 ** (S / 8), looked up


HALF_STEP = 2.0 ** (1.0 / 16.0)


def steps(step_idx: np.ndarray, half: int = 0) -> np.ndarray:
    """Step sizes ``2 ** (S / 8)``, times ``2 ** (1/16)`` with the file's half-step bit (a table
    lookup; S is clipped to +-1024, far beyond any file)."""
    out = _STEPS[np.clip(step_idx + _STEP_OFFSET, 0, 2 * _STEP_OFFSET - 1)]
    return out * HALF_STEP if half else out

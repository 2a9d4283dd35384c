"""Band energies (the envelope) and, for short frames, a broadband time profile over the 8 sub-blocks.

The envelope of a frame is one integer per band, ``E_b = round(L_b / m)`` with ``L_b`` the band's rms
level in 1/8 octave and ``m`` the envelope step (2 = 1.5 dB ... 8 = 6 dB, chosen per file by rate
control). Short frames also carry ``P_s`` (0 = loudest sub-block, then -4 per 3 dB down, 8 values),
and their ``E_b`` describes the loudest sub-block, so the level the decoder assumes for coefficient
``k * 8 + s`` is ``m * E_b + P_s``: finer steps and quieter noise fill before an attack.
"""

from __future__ import annotations

import numpy as np

from .bands import BAND_OF_BIN, EDGES, LEVEL_MAX, LEVEL_MIN, LEVEL_PER_OCTAVE, N_BANDS
from .mdct import SHORT, SHORT_BLOCKS

PROFILE_STEP = 4  # 3 dB
PROFILE_LEVELS = 8  # P_s in {0, -4, ..., -28}


def _level(power: np.ndarray) -> np.ndarray:
    """Mean power -> level in 1/8 octave of amplitude (float)."""
    return LEVEL_PER_OCTAVE * 0.5 * np.log2(np.maximum(power, 1e-30))


CUTOFF_UNIT = 16  # the packet's bandwidth is coded in units of 16 bins (344 Hz)
CUTOFF_DB = 70.0  # bins more than this below the loudest region of the packet are beyond its bandwidth


def active_widths(cutoff: int) -> np.ndarray:
    """Bins of each band below the cutoff."""
    return np.clip(cutoff - EDGES[:-1], 0, np.diff(EDGES))


def active_bands(cutoff: int) -> int:
    """Bands with at least one bin below the cutoff (the rest are silent and not coded)."""
    return int((active_widths(cutoff) > 0).sum())


def find_cutoff(coefs: np.ndarray) -> int:
    """Bandwidth of a packet ``[ch, n, N]``: the end of the last 16-bin group within CUTOFF_DB of
    the loudest group (sources are often low-passed; noise above their cutoff is pure error)."""
    n_bins = coefs.shape[-1]
    power = np.square(coefs).reshape(-1, n_bins).mean(axis=0).reshape(-1, CUTOFF_UNIT).mean(axis=1)
    live = np.flatnonzero(power > max(power.max() * 10 ** (-CUTOFF_DB / 10), 1e-24))
    return int(CUTOFF_UNIT * (live[-1] + 1)) if live.size else CUTOFF_UNIT


def band_power(coefs: np.ndarray, cutoff: int | None = None) -> np.ndarray:
    """``[F, N]`` -> mean power per band ``[F, bands]`` over the bins below ``cutoff``."""
    if cutoff is None:
        cutoff = coefs.shape[-1]
    sq = np.square(coefs)
    sq[..., cutoff:] = 0.0
    return np.add.reduceat(sq, EDGES[:-1], axis=-1) / np.maximum(active_widths(cutoff), 1)


def analyze(coefs: np.ndarray, types: np.ndarray, m: int, cutoff: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantized envelope ``E [F, bands]`` and short-frame profiles ``P [F, 8]`` (0 for long frames).
    Bands wholly above ``cutoff`` get the silent value."""
    profiles = np.zeros((coefs.shape[0], SHORT_BLOCKS), dtype=np.int64)
    coefs = coefs.copy()
    coefs[:, cutoff:] = 0.0
    power = band_power(coefs, cutoff)
    short = np.flatnonzero(types == SHORT)
    if short.size:
        sub = np.square(coefs[short]).reshape(short.size, -1, SHORT_BLOCKS).mean(axis=1)  # [Fs, 8]
        att = _level(sub.max(axis=1, keepdims=True)) - _level(sub)
        p = -PROFILE_STEP * np.clip(np.round(att / PROFILE_STEP), 0, PROFILE_LEVELS - 1).astype(np.int64)
        profiles[short] = p
        # the band level the decoder sees is that of the loudest sub-block: divide out the profile
        gain = np.power(2.0, 2 * p / LEVEL_PER_OCTAVE).mean(axis=1)  # mean relative power
        power[short] = power[short] / gain[:, None]
    levels = np.clip(_level(power), LEVEL_MIN, LEVEL_MAX)
    env = np.maximum(np.round(levels / m).astype(np.int64), silent_index(m))
    env[:, active_bands(cutoff):] = silent_index(m)
    return env, profiles


def silent_index(m: int) -> int:
    """The envelope value meaning 'silent band' at step ``m``."""
    return -(-LEVEL_MIN // m)  # ceil(LEVEL_MIN / m)


def coefficient_levels(env: np.ndarray, profiles: np.ndarray, types: np.ndarray, m: int) -> np.ndarray:
    """Integer level per coefficient ``[F, N]``: ``m * E_b`` plus the sub-block profile in short frames."""
    lev = (m * env).take(BAND_OF_BIN, axis=1)  # C order (indexing [:, BAND_OF_BIN] gives Fortran order)
    short = types == SHORT
    if short.any():
        n = lev.shape[1]
        lev[short] += np.tile(profiles[short], (1, n // SHORT_BLOCKS))  # coef k*8+s gets P_s
    return lev


def silent_mask(env: np.ndarray, m: int, cutoff: int) -> np.ndarray:
    """Per coefficient: its band is silent or it lies above the cutoff (nothing coded or filled)."""
    mask = (env <= silent_index(m)).take(BAND_OF_BIN, axis=1)
    mask[:, cutoff:] = True
    return mask


__all__ = ["N_BANDS", "active_bands", "analyze", "band_power", "coefficient_levels", "find_cutoff", "silent_index",
           "silent_mask"]

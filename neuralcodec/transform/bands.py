"""Band layout of the transform layer (44.1 kHz, 1024 bins) and the integer units every rule uses.

Levels, steps and their ratios are integers in 1/8 octave of amplitude (0.75 dB): ``L = 8 log2(rms)``.
Keeping every rule that decides what the entropy coder sees in integers means encoder and decoder
agree bit for bit on any machine; floats only turn integers back into audio.
"""

from __future__ import annotations

import numpy as np

N_BINS = 1024
# 24 bands, ~critical-band-like: 4 bins (86 Hz) at the bottom, 224 bins at the top
EDGES = np.array([0, 4, 8, 12, 16, 22, 28, 36, 44, 54, 66, 80, 96, 116, 140, 168, 202, 244, 294, 356,
                  432, 528, 656, 800, 1024], dtype=np.int64)
N_BANDS = len(EDGES) - 1
WIDTHS = np.diff(EDGES)
BAND_OF_BIN = np.repeat(np.arange(N_BANDS), WIDTHS)

LEVEL_PER_OCTAVE = 8
LEVEL_MIN = -160  # -120 dBFS rms per bin: at or below this a band is silent (nothing coded, no fill)
LEVEL_MAX = 16
# Step tilt w_b = (f_c / 1 kHz) ** 0.3 in level units, f_c the band's centre at 44.1 kHz: coarser
# steps where the ear is less sensitive to noise under a loud band. Frozen as integers.
TILT = np.array([-8, -7, -5, -4, -3, -2, -1, -1, 0, 1, 2, 2, 3, 4, 4, 5, 5, 6, 7, 7, 8, 9, 10, 10],
                dtype=np.int64)


def tilt_table() -> np.ndarray:
    """How :data:`TILT` was made (kept for the record; the frozen table is what coding uses)."""
    fc = (EDGES[:-1] + EDGES[1:]) / 2 * 22050 / N_BINS
    return np.round(LEVEL_PER_OCTAVE * 0.3 * np.log2(np.maximum(fc, 100) / 1000)).astype(np.int64)

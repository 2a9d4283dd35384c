"""The learned fill: predicts the level of each zeroed bin from what the decoder has.

Noise fill spreads a band's missing energy evenly over its zeroed bins. Music is not flat inside a
band: tonal peaks sit between deep valleys, and a flat fill is too loud in the valleys and too quiet
near the peaks (measured at 8 kbit/s: +6 dB in bins 90-100 dB down, -5 dB in bins 40-60 dB down).
This small network (10 -> 32 -> 32 -> 1, tanh) predicts ``log2(|x| / level)`` of a zeroed bin from
decoder-side features: the allocation ratio, how much of the band the coded bins already explain,
and the decoded magnitudes around the bin in this and the previous frame. The fill is noise of the
predicted rms, capped below the dead zone as before, so it only ever fills zeros: coded values are
untouched and the fill fades out as the step shrinks. It changes no bit of the file (the decoder
chooses it), so its ablation compares the same bitstreams. Weights are float32 arrays in the
tables file; floats here shape output audio only, never the entropy decoder.
"""

from __future__ import annotations

import numpy as np

from .bands import BAND_OF_BIN, EDGES, N_BANDS

N_FEATURES = 10
HIDDEN = 32
_EPS = 1e-3


def _log2_ratio(a: np.ndarray, level: np.ndarray) -> np.ndarray:
    return np.clip(np.log2(_EPS + np.abs(a) / level), -10.0, 6.0)


def features(x: np.ndarray, q: np.ndarray, levels: np.ndarray, st: np.ndarray, types: np.ndarray,
             prev_x: np.ndarray | None) -> np.ndarray:
    """``[n, N, N_FEATURES]`` decoder-side features for every bin of one channel of a packet.

    ``x``: dequantized coefficients (zeros where q = 0); ``levels``/``st``: integer levels and step
    indices; ``prev_x``: the dequantized coefficients of the frame before the packet (None: unknown).
    """
    n, nb = x.shape
    level = np.power(2.0, levels / 8.0)
    zero = q == 0
    zero_frac = np.add.reduceat(zero.astype(np.float64), EDGES[:-1], axis=1) / np.diff(EDGES)
    target = np.add.reduceat(np.square(level), EDGES[:-1], axis=1)
    coded = np.add.reduceat(np.square(x), EDGES[:-1], axis=1)
    explained = np.clip(np.log2(_EPS + coded / np.maximum(target, 1e-30)), -10.0, 1.0)
    prev = np.zeros_like(x)
    prev[1:] = x[:-1]
    have_prev = np.ones(n)
    if prev_x is not None:
        prev[0] = prev_x
    else:
        have_prev[0] = 0.0
    pad = np.pad(x, ((0, 0), (2, 2)))
    ppad = np.pad(prev, ((0, 0), (1, 1)))
    near1 = np.maximum(np.abs(pad[:, 1:-3]), np.abs(pad[:, 3:-1]))
    near2 = np.maximum(np.abs(pad[:, :-4]), np.abs(pad[:, 4:]))
    prev_nb = np.maximum(np.abs(ppad[:, :-2]), np.abs(ppad[:, 2:]))
    f = np.empty((n, nb, N_FEATURES), dtype=np.float32)
    f[..., 0] = np.clip((levels - st) / 8.0, -4.0, 10.0)
    f[..., 1] = zero_frac[:, BAND_OF_BIN]
    f[..., 2] = explained[:, BAND_OF_BIN]
    f[..., 3] = _log2_ratio(prev, level)
    f[..., 4] = _log2_ratio(prev_nb, level)
    f[..., 5] = _log2_ratio(near1, level)
    f[..., 6] = _log2_ratio(near2, level)
    f[..., 7] = types[:, None]
    f[..., 8] = BAND_OF_BIN[None, :] / N_BANDS
    f[..., 9] = have_prev[:, None]
    return f


class FillNet:
    """Numpy inference of the fill network (weights from the tables file)."""

    KEYS = ("fill_w1", "fill_b1", "fill_w2", "fill_b2", "fill_w3", "fill_b3", "fill_mean", "fill_std")

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.w = {k: np.asarray(weights[k], dtype=np.float32) for k in self.KEYS}

    def predict(self, f: np.ndarray) -> np.ndarray:
        """``[..., N_FEATURES]`` -> predicted ``log2(|x| / level)``."""
        w = self.w
        h = np.tanh(((f - w["fill_mean"]) / w["fill_std"]) @ w["fill_w1"] + w["fill_b1"])
        h = np.tanh(h @ w["fill_w2"] + w["fill_b2"])
        return (h @ w["fill_w3"] + w["fill_b3"])[..., 0]

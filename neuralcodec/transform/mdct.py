"""The exact layer's transform: an orthonormal MDCT with block switching (long 2048 / 8 x short 256).

Frame ``i`` holds ``N = hop`` coefficients of the windowed block ``x[(i-1)N, (i+1)N)`` (the signal
is zero before 0 and after its end), so latent frame ``i``'s samples ``[iN, (i+1)N)`` are rebuilt
exactly from frames ``i`` and ``i + 1`` (time-domain aliasing cancellation). A file of ``S`` samples
therefore has ``ceil(S / N) + 1`` frames.

Block switching (as in AAC): a frame is ``long`` (one MDCT of N coefficients) or ``short`` (8 MDCTs
of N/8 coefficients on 2N/8-sample sine windows, centred in the block). The overlap between frames
``i - 1`` and ``i`` uses the short slope when either of them is short, else the long sine slope, so
a long frame next to a short one takes the AAC start/stop shape and reconstruction stays perfect.
Short-frame coefficients are stored interleaved: ``coef[k * 8 + s]`` is bin ``k`` of sub-block ``s``,
so the same band edges cover the same frequencies in both frame types.
"""

from __future__ import annotations

import numpy as np

SHORT_BLOCKS = 8
LONG, SHORT = 0, 1


_TWIDDLE: dict[int, np.ndarray] = {}


def dct4(u: np.ndarray) -> np.ndarray:
    """Orthonormal DCT-IV along the last axis (its own inverse), via an m/2-point complex FFT."""
    m = u.shape[-1]
    if m not in _TWIDDLE:
        _TWIDDLE[m] = np.exp(-1j * np.pi * (np.arange(m // 2) + 1 / 8) / m)
    tw = _TWIDDLE[m]
    z = (u[..., 0::2] + 1j * u[..., ::-1][..., 0::2]) * tw
    z = np.fft.fft(z, axis=-1)
    z *= tw
    out = np.empty(u.shape, dtype=np.float64)
    s = np.sqrt(2.0 / m)
    np.multiply(z.real, s, out=out[..., 0::2])
    np.multiply(np.negative(z.imag[..., ::-1]), s, out=out[..., 1::2])  # the same products, no extra pass
    return out


def mdct(blocks: np.ndarray) -> np.ndarray:
    """``[..., 2m]`` windowed blocks -> ``[..., m]`` orthonormal MDCT coefficients.

    X[k] = sqrt(2/m) sum_n x[n] cos(pi/m (n + 1/2 + m/2)(k + 1/2)): fold 2m -> m, then DCT-IV.
    """
    x = np.asarray(blocks, dtype=np.float64)
    m = x.shape[-1] // 2
    q = m // 2
    a, b, c, d = x[..., :q], x[..., q:m], x[..., m : m + q], x[..., m + q :]
    u = np.empty(x.shape[:-1] + (m,))
    np.subtract(np.negative(c[..., ::-1]), d, out=u[..., :q])
    np.subtract(a, b[..., ::-1], out=u[..., q:])
    return dct4(u)


def imdct(coefs: np.ndarray) -> np.ndarray:
    """``[..., m]`` -> ``[..., 2m]`` aliased blocks (the transpose of :func:`mdct`; window + overlap-add)."""
    u = dct4(coefs.astype(np.float64))
    q = u.shape[-1] // 2
    lo, hi = u[..., :q], u[..., q:]
    return np.concatenate([hi, -hi[..., ::-1], -lo[..., ::-1], -lo], axis=-1)


def sine_slope(n: int) -> np.ndarray:
    """Rising half of a sine window of length 2n."""
    return np.sin(np.pi * (np.arange(n) + 0.5) / (2 * n))


class Windows:
    """Window halves for a hop of ``n``: long slopes and the short slope padded to n samples."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ns = n // SHORT_BLOCKS
        self.long_rise = sine_slope(n)
        pad = (n - self.ns) // 2
        self.short_rise = np.concatenate([np.zeros(pad), sine_slope(self.ns), np.ones(pad)])
        self.short_win = np.concatenate([sine_slope(self.ns), sine_slope(self.ns)[::-1]])
        self.pad = pad

    def rise(self, short: bool) -> np.ndarray:
        return self.short_rise if short else self.long_rise

    def long_window(self, left_short: bool, right_short: bool) -> np.ndarray:
        return np.concatenate([self.rise(left_short), self.rise(right_short)[::-1]])


def overlap_shapes(types: np.ndarray, prev_type: int, next_type: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: whether its left / right overlap uses the short slope."""
    t = np.concatenate([[prev_type], types, [next_type]]).astype(bool)
    left = t[1:-1] | t[:-2]
    right = t[1:-1] | t[2:]
    return left, right


def analyze_frames(blocks: np.ndarray, types: np.ndarray, left: np.ndarray, right: np.ndarray,
                   win: Windows) -> np.ndarray:
    """``[F, 2N]`` raw blocks -> ``[F, N]`` coefficients (short frames interleaved)."""
    n = win.n
    out = np.empty((blocks.shape[0], n), dtype=np.float64)
    is_short = types == SHORT
    for ls in (False, True):
        for rs in (False, True):
            sel = (~is_short) & (left == ls) & (right == rs)
            if sel.any():
                out[sel] = mdct(blocks[sel] * win.long_window(ls, rs))
    if is_short.any():
        ns = win.ns
        sb = blocks[is_short]
        subs = np.stack([sb[:, win.pad + s * ns : win.pad + s * ns + 2 * ns] for s in range(SHORT_BLOCKS)], axis=1)
        c = mdct(subs * win.short_win)  # [Fs, 8, ns]
        out[is_short] = c.transpose(0, 2, 1).reshape(-1, n)
    return out


def synthesize_frames(coefs: np.ndarray, types: np.ndarray, left: np.ndarray, right: np.ndarray,
                      win: Windows) -> np.ndarray:
    """``[F, N]`` coefficients -> ``[F, 2N]`` windowed blocks to overlap-add with hop N."""
    n = win.n
    out = np.zeros((coefs.shape[0], 2 * n), dtype=np.float64)
    is_short = types == SHORT
    for ls in (False, True):
        for rs in (False, True):
            sel = (~is_short) & (left == ls) & (right == rs)
            if sel.any():
                out[sel] = imdct(coefs[sel]) * win.long_window(ls, rs)
    if is_short.any():
        ns = win.ns
        c = coefs[is_short].reshape(-1, ns, SHORT_BLOCKS).transpose(0, 2, 1)  # [Fs, 8, ns]
        subs = imdct(c) * win.short_win  # [Fs, 8, 2ns]
        blk = np.zeros((c.shape[0], 2 * n))
        for s in range(SHORT_BLOCKS):
            a = win.pad + s * ns
            blk[:, a : a + 2 * ns] += subs[:, s]
        out[is_short] = blk
    return out


def overlap_add(blocks: np.ndarray, n: int) -> np.ndarray:
    """``[F, 2N]`` -> ``[(F + 1) * N]``: block i starts at sample i*N."""
    f = blocks.shape[0]
    out = np.zeros((f + 1) * n)
    out[: f * n] += blocks[:, :n].reshape(-1)
    out[n:] += blocks[:, n:].reshape(-1)
    return out

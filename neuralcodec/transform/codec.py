"""The transform layer end to end: audio -> frames -> integers per packet, and back.

Encoder: :class:`Analyzer` takes model-rate coding-channel audio in blocks (bounded look-ahead) and
keeps the MDCT coefficients; :func:`quantize_packet` turns a packet's frames into integers at the
given :class:`LayerParams`. Decoder: :func:`reconstruct` (dequantize + noise fill) and
:class:`Synthesizer` (inverse MDCT + overlap-add) turn a run of packets back into audio.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import mdct as M
from .allocation import steps
from .bands import N_BANDS, N_BINS
from .coefficients import dequantize, quantize
from .envelope import analyze as analyze_envelope
from .envelope import find_cutoff
from .fill import CAP, noise_fill
from .fill_model import FillNet, features
from .packet import LayerParams, PacketInts, derive

HOP = N_BINS
CHUNK_FRAMES_DEFAULT = 256  # frames per packet (~6 s)
TRANSIENT_DB = 10.0


def n_frames(samples: int) -> int:
    """Frames of a signal of ``samples`` samples (frame i spans [(i-1)N, (i+1)N))."""
    return -(-max(samples, 1) // HOP) + 1


def _transients(hp: np.ndarray, first: int, count: int, offset: int) -> np.ndarray:
    """Short-block decisions for frames ``first .. first+count`` from high-passed samples ``hp``
    (``hp[0]`` is absolute sample ``offset``; anything outside is zero).

    Frame i is short when a sub-block of x[(i-1/2)N, (i+1/2)N) is TRANSIENT_DB louder than both the
    running maximum of the sub-blocks before it and the mean of the 8 sub-blocks preceding the span.
    """
    seg = HOP // M.SHORT_BLOCKS
    lo = (first - 1) * HOP - HOP // 2 - offset  # start of the history span of frame `first`
    span = (count + 1) * HOP + HOP
    a = max(lo, 0)
    window = np.zeros(span)
    part = hp[a : lo + span]
    window[a - lo : a - lo + part.size] = part
    e = np.square(window).reshape(-1, seg).mean(axis=1) + 1e-10
    ratio = 10 ** (TRANSIENT_DB / 10)
    # all frames at once; frame k: hist = sub-blocks 8k..8k+7, cur = the next 8, run[j] = the maximum
    # of hist and cur[:j] (maxima are exact, and a row's mean sums its 8 values as np.mean of 8 does)
    blk = e[: (count + 1) * 8].reshape(count + 1, 8)
    hist, cur = blk[:-1], blk[1:]
    run = np.maximum.accumulate(np.concatenate([hist, cur], axis=1), axis=1)[:, 7:-1]
    loud = (cur > ratio * np.maximum(run, hist.mean(axis=1, keepdims=True))).any(axis=1)
    return np.where((cur.max(axis=1) > 1e-7) & loud, M.SHORT, 0).astype(np.int64)


class Analyzer:
    """Streaming MDCT analysis of ``[ch, n]`` model-rate blocks; memory: the coefficients only."""

    def __init__(self, channels: int, dtype: type = np.float32, scale: float = 1.0) -> None:
        """``dtype``/``scale``: how the kept coefficients are stored (``x * scale`` as ``dtype``)."""
        self.channels = channels
        self.dtype, self.scale = dtype, scale
        self.win = M.Windows(HOP)
        self.buf = np.zeros((channels, 0))
        self.buf_start = 0  # absolute index of buf[:, 0]
        self.received = 0
        self.types: list[int] = []  # decided frame types
        self.done = 0  # frames emitted
        self.coefs: list[np.ndarray] = []  # [ch, k, N] float32 pieces
        self.prev_type = M.LONG

    def push(self, block: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, block.astype(np.float64)], axis=1)
        self.received += block.shape[1]
        ready = self.received // HOP - 1  # frames whose type can be decided: (i + 1/2) N <= received
        self._advance(ready, final=False)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """All frames: ``types [F]`` and ``coefs [ch, F, N]`` (float32)."""
        total = n_frames(self.received)
        pad = (total + 1) * HOP - (self.buf_start + self.buf.shape[1])
        self.buf = np.concatenate([self.buf, np.zeros((self.channels, max(pad, 0)))], axis=1)
        self._advance(total, final=True)
        coefs = np.concatenate(self.coefs, axis=1) if self.coefs else np.zeros((self.channels, 0, HOP), self.dtype)
        self.coefs = []
        return np.array(self.types, dtype=np.int64), coefs

    def _decide(self, upto: int) -> None:
        first = len(self.types)
        if upto <= first:
            return
        mono = self.buf.sum(axis=0)
        hp = np.diff(mono, prepend=mono[:1] if self.buf_start == 0 else mono[:1])
        self.types.extend(_transients(hp, first, upto - first, self.buf_start).tolist())

    def _advance(self, ready: int, final: bool) -> None:
        total = n_frames(self.received) if final else None
        self._decide(ready if not final else total)
        # frame i can be emitted once the type of i + 1 is known (its right overlap shape)
        last = (total if final else len(self.types) - 1)
        if last <= self.done:
            return
        first = self.done
        types = np.array(self.types[first:last], dtype=np.int64)
        nxt = self.types[last] if last < len(self.types) else M.LONG
        left, right = M.overlap_shapes(types, self.prev_type, nxt)
        idx = (np.arange(first, last) - 1) * HOP - self.buf_start  # block start of each frame
        need = idx.max() + 2 * HOP
        if need > self.buf.shape[1]:
            self.buf = np.concatenate([self.buf, np.zeros((self.channels, need - self.buf.shape[1]))], axis=1)
        out = np.empty((self.channels, last - first, HOP), dtype=self.dtype)
        for c in range(self.channels):
            x = self.buf[c]
            pad = max(0, -int(idx.min()))
            xp = np.concatenate([np.zeros(pad), x]) if pad else x
            blocks = sliding_window_view(xp, 2 * HOP)[idx + pad]  # [frames, 2N] (a copy)
            out[c] = M.analyze_frames(blocks, types, left, right, self.win) * self.scale
        self.coefs.append(out)
        self.prev_type = int(types[-1])
        self.done = last
        keep = max(0, (self.done - 3) * HOP)  # history for the next frames' blocks and transients
        if keep > self.buf_start:
            self.buf = self.buf[:, keep - self.buf_start :]
            self.buf_start = keep


def packet_envelope(types: np.ndarray, coefs: np.ndarray, m: int) -> PacketInts:
    """The packet's bandwidth, envelope and profiles (they do not depend on the step offset D);
    coefficients all zero until :func:`quantize_coefficients`."""
    ch, n, _ = coefs.shape
    env = np.empty((ch, n, N_BANDS), np.int64)
    prof = np.empty((ch, n, M.SHORT_BLOCKS), np.int64)
    cutoff = find_cutoff(coefs)
    for c in range(ch):
        env[c], prof[c] = analyze_envelope(coefs[c].astype(np.float64), types, m, cutoff)
    # no coefficients yet: a read-only zero view costs no memory (the encoder caches one per packet)
    return PacketInts(types, env, prof, np.broadcast_to(np.int64(0), coefs.shape), cutoff)


def quantize_coefficients(shape: PacketInts, coefs: np.ndarray, p: LayerParams) -> PacketInts:
    """Coefficient integers at ``p`` for a packet whose envelope :func:`packet_envelope` gave."""
    q = np.zeros(coefs.shape, np.int64)
    for c in range(coefs.shape[0]):
        dv = derive(shape.types, shape.env[c], shape.prof[c], shape.cutoff, p)
        q[c] = np.where(dv.coded, quantize(coefs[c], steps(dv.st, p.half)), 0)
    return PacketInts(shape.types, shape.env, shape.prof, q, shape.cutoff)


def quantize_packet(types: np.ndarray, coefs: np.ndarray, p: LayerParams) -> PacketInts:
    """``coefs [ch, n, N]`` -> the packet's integers (envelope, profiles, coefficients)."""
    return quantize_coefficients(packet_envelope(types, coefs, p.m), coefs, p)


def reconstruct(ints: PacketInts, p: LayerParams, first_frame: int, fill: str = "noise",
                fill_net: FillNet | None = None) -> np.ndarray:
    """Integers -> coefficients ``[ch, n, N]``: dequantize, then fill what the bits left out.

    ``fill``: "noise" (energy-based noise fill), "learned" (noise at the level ``fill_net``
    predicts per bin) or "none".
    """
    out = np.empty(ints.q.shape, np.float64)
    for c in range(ints.q.shape[0]):
        dv = derive(ints.types, ints.env[c], ints.prof[c], ints.cutoff, p)
        st = steps(dv.st, p.half)
        x = dequantize(ints.q[c], st)
        seed = (first_frame << 2) | c
        if fill == "learned" and fill_net is not None:
            x = learned_fill(x, ints.q[c], dv.levels, dv.st, st, dv.silent, ints.types, fill_net, seed)
        elif fill != "none":
            power = np.power(2.0, dv.levels / 4.0)
            x = noise_fill(x, ints.q[c], power, st, dv.silent, seed=seed)
        out[c] = x
    return out


def learned_fill(x: np.ndarray, q: np.ndarray, levels: np.ndarray, st_idx: np.ndarray, step: np.ndarray,
                 silent: np.ndarray, types: np.ndarray, net: FillNet, seed: int) -> np.ndarray:
    """Fill zeroed, non-silent bins with noise at the predicted rms (capped below the dead zone)."""
    zero = (q == 0) & ~silent
    if not zero.any():
        return x
    f = features(x, q, levels, st_idx, types, None)
    pred = net.predict(f[zero])
    level = np.power(2.0, levels[zero] / 8.0)
    rms = np.minimum(np.power(2.0, pred) * level, CAP * step[zero])
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=x.shape)[zero]
    x = x.copy()
    x[zero] = noise * rms
    return x


class Synthesizer:
    """Inverse MDCT + overlap-add over consecutive frames; yields finished samples in order."""

    def __init__(self, channels: int) -> None:
        self.win = M.Windows(HOP)
        self.tail = np.zeros((channels, HOP))
        self.prev_type = M.LONG

    def run(self, types: np.ndarray, coefs: np.ndarray, next_type: int) -> np.ndarray:
        """Frames ``types [k]``, ``coefs [ch, k, N]`` -> ``[ch, k * N]`` samples, starting at the
        first frame's centre minus N/2... precisely: samples ``[(i0 - 1) N, (i0 + k - 1) N)``."""
        left, right = M.overlap_shapes(types, self.prev_type, next_type)
        ch, k, _ = coefs.shape
        out = np.empty((ch, k * HOP))
        for c in range(ch):
            blocks = M.synthesize_frames(coefs[c], types, left, right, self.win)
            y = M.overlap_add(blocks, HOP)
            y[:HOP] += self.tail[c]
            out[c] = y[: k * HOP]
            self.tail[c] = y[k * HOP :]
        self.prev_type = int(types[-1])
        return out

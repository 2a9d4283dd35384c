"""One packet of the transform layer: its integers <-> range-coded bytes, and their ideal cost.

Payload ("mdct-tables-v1"), one constriction range-coder stream, in this order:

1. frame types (long/short), one symbol per frame, table ``types``; then the packet's bandwidth
   ``cutoff / 16`` with ``Uniform(65)`` (bins at or above the cutoff are silent);
2. per coding channel (mid, then side):
   a. the envelope, band by band for all frames of the packet, for the bands below the cutoff:
      residual ``r + ENV_R`` under the envelope table row ``[intra, band, context]`` (frame 0 is
      intra; bands above the cutoff are silent and not coded);
   b. short frames' time profiles, 8 values each, ``Uniform(8)``;
   c. coefficient buckets, frame by frame, for every coded bin (``g >= G_MIN``, band not silent)
      under the coefficient table row ``[type, g, previous-frame class]``;
   d. the raw extra bits of buckets >= 8 (``Uniform(2 ** nbits)``), in bin order;
   e. one sign per non-zero coefficient (``Uniform(2)``, 1 = negative).

Everything the decoder needs to choose a row is an integer it has already decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import constriction
import numpy as np

from ..errors import FormatError
from .allocation import G_MIN, step_indices
from .bands import LEVEL_MAX, N_BANDS
from .coefficients import bucket_bits, from_buckets, to_buckets
from .contexts import (
    ENV_R,
    N_CUR_NBR,
    N_PREV_NBR,
    coef_context,
    cur_neighbours,
    env_from_residuals,
    env_residuals,
    env_rows,
    prev_class,
    prev_neighbours,
)
from .envelope import (
    CUTOFF_UNIT,
    PROFILE_LEVELS,
    PROFILE_STEP,
    active_bands,
    coefficient_levels,
    silent_index,
    silent_mask,
)
from .mdct import SHORT, SHORT_BLOCKS
from .tables import TableSet, row_bits

CODER = "mdct-tables-v1"
_PARITY = np.arange(1024) % 2
N_CUTOFFS = 65  # cutoff / CUTOFF_UNIT in 0..64 (0 is refused by the decoder)
_M = constriction.stream.model


@dataclass(frozen=True)
class LayerParams:
    """Per-file parameters of the transform layer (they travel in the header)."""

    m: int  # envelope step, 1/8 octave
    d: int  # global step offset (rate control), 1/8 octave
    alpha16: int  # step ~ level ** (alpha16 / 16)
    env_kind: str = "learned"
    coef_kind: str = "learned"
    half: int = 0  # 1: every step x 2**(1/16) (finer rate control; contexts use d alone)


@dataclass
class PacketInts:
    types: np.ndarray  # [n] LONG/SHORT
    env: np.ndarray  # [ch, n, bands]
    prof: np.ndarray  # [ch, n, 8] (0 in long frames)
    q: np.ndarray  # [ch, n, N]
    cutoff: int  # bandwidth in bins (a multiple of CUTOFF_UNIT)


@dataclass
class Derived:
    levels: np.ndarray  # [n, N] decoded level per bin
    st: np.ndarray  # [n, N] step index
    coded: np.ndarray  # [n, N] bins that carry a symbol
    silent: np.ndarray  # [n, N]


def derive(types: np.ndarray, env: np.ndarray, prof: np.ndarray, cutoff: int, p: LayerParams) -> Derived:
    """The shared rule: levels, steps and the coded mask from one channel's envelope."""
    levels = coefficient_levels(env, prof, types, p.m).astype(np.int32)  # int32: the hot per-bin arithmetic
    st = step_indices(levels, p.d, p.alpha16).astype(np.int32)
    silent = silent_mask(env, p.m, cutoff)
    coded = ((levels - st) >= G_MIN) & ~silent
    return Derived(levels, st, coded, silent)


def _rows(freq: np.ndarray) -> np.ndarray:
    return freq if freq.dtype == np.float64 else freq.astype(np.float64)


class _Symbols:
    """The symbol streams of one packet, as the encoder sees them (for coding and for estimates)."""

    def __init__(self, ints: PacketInts, p: LayerParams, tables: TableSet) -> None:
        self.ints, self.p, self.tables = ints, p, tables
        n = ints.types.shape[0]
        self.env_tab = tables.probs(f"env_{p.env_kind}_m{p.m}")
        self.coef_tab = tables.probs(f"coef_{p.coef_kind}")
        self.channels = []
        self.nb = active_bands(ints.cutoff)
        for c in range(ints.env.shape[0]):
            env, prof, q = ints.env[c], ints.prof[c], ints.q[c]
            r = env_residuals(env, p.m, None)
            if np.abs(r).max(initial=0) > ENV_R:
                raise ValueError("envelope residual out of range")
            intra = np.zeros(n, dtype=np.int64)
            intra[0] = 1
            env_rows_ = np.stack([env_rows(intra, b, r[:, b - 1] if b else None, ints.types,
                                           p.m * env[:, b - 1] if b else None) for b in range(N_BANDS)], axis=1)
            dv = derive(ints.types, env, prof, ints.cutoff, p)
            bucket, nbits, extra = to_buckets(np.abs(q))
            # contexts of the coded bins only (all frames at once: the encoder knows every previous
            # frame already); the same rules the decoder applies frame by frame
            t_idx, k_idx = np.nonzero(dv.coded)
            lower = from_buckets(bucket)
            lp = np.pad(lower, ((1, 0), (1, 1)))  # row 0: "no previous frame"; columns: edge padding
            lp[:, 0], lp[:, -1] = lp[:, 2], lp[:, -3]
            st_prev = np.pad(dv.st, ((1, 0), (0, 0)))[t_idx, k_idx]
            same = np.concatenate([[False], ints.types[1:] == ints.types[:-1]])[t_idx]
            prev = np.where(same, prev_class(lp[t_idx, k_idx + 1], st_prev, dv.st[t_idx, k_idx], True), 0)
            pnb = np.minimum(np.maximum(lp[t_idx, k_idx], lp[t_idx, k_idx + 2]), N_PREV_NBR - 1)
            prev_nbr = np.where(same, pnb, 0)
            lc = np.pad(lower, ((0, 0), (1, 1)))
            parity = k_idx % 2
            cur = np.where(parity == 1, np.minimum(lc[t_idx, k_idx] + lc[t_idx, k_idx + 2], N_CUR_NBR - 1), 0)
            g = dv.levels[t_idx, k_idx] - dv.st[t_idx, k_idx]
            coef_rows = np.zeros(q.shape, dtype=np.int64)
            coef_rows[t_idx, k_idx] = coef_context(ints.types[t_idx], g, prev, prev_nbr, cur, parity)
            self.channels.append((r, env_rows_, prof, dv, bucket, nbits, extra, coef_rows))

    def bits(self) -> dict[str, float]:
        t = self.ints.types
        p, tables = self.p, self.tables
        out = {"types": float(row_bits(tables.types()[None].repeat(t.size, 0), t).sum() + np.log2(N_CUTOFFS)),
               "envelope": 0.0, "coefficients": 0.0, "signs and extra bits": 0.0}
        env_cost = tables.cost(f"env_{p.env_kind}_m{p.m}")
        coef_cost = tables.cost(f"coef_{p.coef_kind}")
        for ch, (r, er, _prof, dv, bucket, nbits, _extra, coef_rows) in enumerate(self.channels):
            nb = self.nb
            out["envelope"] += float(env_cost[er[:, :nb], r[:, :nb] + ENV_R].sum())
            out["envelope"] += 3.0 * SHORT_BLOCKS * int((t == SHORT).sum())
            m = dv.coded
            out["coefficients"] += float(coef_cost[coef_rows[m], bucket[m]].sum())
            out["signs and extra bits"] += float(nbits[m].sum() + np.count_nonzero(self.ints.q[ch][m]))
        return out


def estimate_bits(ints: PacketInts, p: LayerParams, tables: TableSet) -> dict[str, float]:
    """Ideal code lengths per part (the range coder lands within about 1% of their sum)."""
    return _Symbols(ints, p, tables).bits()


@overload
def encode_packet(ints: PacketInts, p: LayerParams, tables: TableSet) -> bytes: ...
@overload
def encode_packet(ints: PacketInts, p: LayerParams, tables: TableSet, with_bits: Literal[True]
                  ) -> tuple[bytes, dict[str, float]]: ...
def encode_packet(ints: PacketInts, p: LayerParams, tables: TableSet, with_bits: bool = False
                  ) -> bytes | tuple[bytes, dict[str, float]]:
    """The packet's payload (and, with ``with_bits``, its ideal bits per part from the same symbols)."""
    sy = _Symbols(ints, p, tables)
    enc = constriction.stream.queue.RangeEncoder()
    cat = _M.Categorical(perfect=False)
    types = ints.types.astype(np.int32)
    enc.encode(types, cat, _rows(np.repeat(tables.types()[None], types.size, 0)))
    enc.encode(np.array([ints.cutoff // CUTOFF_UNIT], np.int32), _M.Uniform(N_CUTOFFS))
    for ch, (r, er, prof, dv, bucket, nbits, extra, coef_rows) in enumerate(sy.channels):
        for b in range(sy.nb):
            enc.encode((r[:, b] + ENV_R).astype(np.int32), cat, _rows(sy.env_tab[er[:, b]]))
        short = ints.types == SHORT
        if short.any():
            enc.encode((-prof[short] // PROFILE_STEP).reshape(-1).astype(np.int32), _M.Uniform(PROFILE_LEVELS))
        for t in range(types.size):
            for par in (0, 1):
                m = dv.coded[t] & (_PARITY == par)
                if m.any():
                    enc.encode(bucket[t][m].astype(np.int32), cat, _rows(sy.coef_tab[coef_rows[t][m]]))
        m = dv.coded
        big = nbits[m] > 0
        if big.any():
            enc.encode(extra[m][big].astype(np.int32), _M.Uniform(), (1 << nbits[m][big]).astype(np.int32))
        nz = ints.q[ch][m] != 0
        if nz.any():
            enc.encode((ints.q[ch][m][nz] < 0).astype(np.int32), _M.Uniform(2))
    data = enc.get_compressed().astype("<u4").tobytes()
    return (data, sy.bits()) if with_bits else data


def _open_packet(payload: bytes, n: int, n_bins: int, tables: TableSet
                 ) -> tuple[constriction.stream.queue.RangeDecoder, np.ndarray, int]:
    """A decoder positioned after the frame types and the bandwidth, which it returns."""
    if len(payload) % 4:
        raise FormatError("transform payload is not a whole number of 32-bit words")
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    cat = _M.Categorical(perfect=False)
    types = np.asarray(dec.decode(cat, _rows(np.repeat(tables.types()[None], n, 0))), dtype=np.int64)
    cutoff = CUTOFF_UNIT * int(dec.decode(_M.Uniform(N_CUTOFFS)))
    if not 0 < cutoff <= n_bins:
        raise FormatError(f"transform payload has an impossible bandwidth ({cutoff} bins)")
    return dec, types, cutoff


def _decode_envelope(dec: constriction.stream.queue.RangeDecoder, env_tab: np.ndarray, types: np.ndarray,
                     cutoff: int, p: LayerParams) -> np.ndarray:
    """One channel's envelope ``[n, bands]`` (bands above the cutoff at the silent index)."""
    n = types.shape[0]
    cat = _M.Categorical(perfect=False)
    nb = active_bands(cutoff)
    intra = np.zeros(n, dtype=np.int64)
    intra[0] = 1
    r = np.zeros((n, N_BANDS), np.int64)
    env = np.zeros((n, N_BANDS), np.int64)
    for b in range(nb):
        rows = env_rows(intra, b, r[:, b - 1] if b else None, types, p.m * env[:, b - 1] if b else None)
        r[:, b] = np.asarray(dec.decode(cat, _rows(env_tab[rows])), dtype=np.int64) - ENV_R
        env[:, : b + 1] = env_from_residuals(r[:, : b + 1], p.m)
        if (env[:, b] < silent_index(p.m)).any() or (env[:, b] * p.m > LEVEL_MAX + p.m).any():
            raise FormatError(f"transform payload has an impossible envelope value in band {b}")
    env[:, nb:] = silent_index(p.m)
    return env


def decode_envelope(payload: bytes, n: int, n_bins: int, p: LayerParams, tables: TableSet
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """The first coding channel's envelope ``[n, bands]``, the frame types and the bandwidth: the
    front of the payload only (no coefficient is decoded), for search and classification."""
    dec, types, cutoff = _open_packet(payload, n, n_bins, tables)
    env = _decode_envelope(dec, tables.probs(f"env_{p.env_kind}_m{p.m}"), types, cutoff, p)
    return env, types, cutoff


def decode_packet(payload: bytes, n: int, channels: int, n_bins: int, p: LayerParams,
                  tables: TableSet, first_only: bool = False) -> PacketInts:
    """Inverse of :func:`encode_packet`. ``first_only`` stops after the first coding channel's
    integers (the others stay zero): the mid channel for search, at about half the cost."""
    dec, types, cutoff = _open_packet(payload, n, n_bins, tables)
    cat = _M.Categorical(perfect=False)
    env_tab = tables.probs(f"env_{p.env_kind}_m{p.m}")
    coef_tab = tables.probs(f"coef_{p.coef_kind}")
    env_all = np.zeros((channels, n, N_BANDS), np.int64)
    prof_all = np.zeros((channels, n, SHORT_BLOCKS), np.int64)
    q_all = np.zeros((channels, n, n_bins), np.int64)
    short = types == SHORT
    for ch in range(1 if first_only else channels):
        env = _decode_envelope(dec, env_tab, types, cutoff, p)
        prof = prof_all[ch]
        if short.any():
            vals = np.asarray(dec.decode(_M.Uniform(PROFILE_LEVELS), int(short.sum()) * SHORT_BLOCKS))
            prof[short] = -PROFILE_STEP * vals.reshape(-1, SHORT_BLOCKS).astype(np.int64)
        dv = derive(types, env, prof, cutoff, p)
        bucket = np.zeros((n, n_bins), np.int64)
        lower = np.zeros((n, n_bins), np.int64)
        for t in range(n):
            if not dv.coded[t].any():
                continue
            same = t > 0 and types[t] == types[t - 1]
            lp = lower[t - 1] if t else None
            prev = prev_class(lp, dv.st[t - 1] if t else None, dv.st[t], same)
            pn = prev_neighbours(lp, same)
            g = dv.levels[t] - dv.st[t]
            for par in (0, 1):
                m = dv.coded[t] & (_PARITY == par)
                if m.any():
                    cur = cur_neighbours(lower[t])[m] if par else 0
                    rows = coef_context(int(types[t]), g[m], prev[m], 0 if pn is None else pn[m], cur, par)
                    bucket[t][m] = np.asarray(dec.decode(cat, _rows(coef_tab[rows])), dtype=np.int64)
                    lower[t][m] = from_buckets(bucket[t][m])
        m = dv.coded
        bk = bucket[m]
        n_extra = bucket_bits(bk)
        extra = np.zeros_like(bk)
        big = n_extra > 0
        if big.any():
            extra[big] = np.asarray(dec.decode(_M.Uniform(), (1 << n_extra[big]).astype(np.int32)))
        mag = from_buckets(bk, extra)
        nz = mag != 0
        if nz.any():
            neg = np.asarray(dec.decode(_M.Uniform(2), int(nz.sum()))).astype(bool)
            mag[nz] = np.where(neg, -mag[nz], mag[nz])
        q = q_all[ch]
        q[m] = mag
        env_all[ch] = env
    return PacketInts(types, env_all, prof_all, q_all, cutoff)

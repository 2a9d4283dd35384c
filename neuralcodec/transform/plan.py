"""The encoder's view of one packet while rate control looks for the step offset: a faster path to
exactly what :func:`codec.quantize_coefficients` + :func:`packet.estimate_bits` / :func:`packet.encode_packet`
give, for any ``(d, half)``.

What does not depend on ``d`` is computed once per packet (frame types, envelope residuals and their
rows and cost, the per-bin levels and step-index base); each estimate then quantizes and builds the
contexts of the coded bins only, all frames at once (the encoder knows every integer; only the
decoder goes frame by frame). Every number is produced by the same operations on the same values as
the reference path, in the same order where floats are summed, so the estimates (and therefore rate
control's choices) and the coded bytes are bit-identical; ``tests/test_transform_plan.py`` checks it.
"""

from __future__ import annotations

import constriction
import numpy as np

from .allocation import G_MAX, G_MIN, steps
from .bands import BAND_OF_BIN, N_BANDS, N_BINS, TILT
from .coefficients import MAX_MAG, N_BUCKETS, ROUND, from_buckets, to_buckets
from .contexts import _LQ, ENV_R, N_CUR_NBR, N_G, N_PREV, N_PREV_NBR, env_residuals, env_rows
from .envelope import CUTOFF_UNIT, PROFILE_LEVELS, PROFILE_STEP, active_bands, silent_index
from .mdct import SHORT, SHORT_BLOCKS
from .packet import N_CUTOFFS, PacketInts, _rows
from .tables import TableSet, row_bits

_M = constriction.stream.model
_DENSE_SHARE = 0.75  # above this share of coded bins, evaluate every bin (slices) rather than gather (measured)
_BIN_COL = BAND_OF_BIN * SHORT_BLOCKS + np.arange(N_BINS) % SHORT_BLOCKS  # bin k's column in [bands x 8] tables
_LQ_BUCKET = _LQ[np.maximum(from_buckets(np.arange(N_BUCKETS)), 1) - 1].astype(np.int32)  # per bucket's lower edge
# symbols per range-coder call: bounds the float64 rows gathered for the coder (about 1 MB: reused
# memory, in cache; any split of a stream into calls gives the same bytes)
_CHUNK = 1 << 12
_ENV_CHUNK = 1 << 9


class PacketPlan:
    """One packet's D-independent work, from its envelope integers (``shape``, as
    :func:`codec.packet_envelope` gives) and its coefficients ``coefs [ch, n, N]`` (any float dtype;
    they are taken as ``coefs.astype(float32) * scale``, as :class:`layered.TransformEncoder` does).

    ``keep``: also cache the per-bin arrays (levels, step bases) across estimates (for packets that
    are estimated many times: rate control's sample); otherwise they are rebuilt on each call.
    """

    def __init__(self, shape: PacketInts, coefs: np.ndarray, scale: float, m: int, alpha16: int,
                 env_kind: str, coef_kind: str, tables: TableSet, keep: bool = False) -> None:
        self.shape, self.coefs, self.scale = shape, coefs, np.float32(scale)
        self.m, self.alpha16, self.tables, self.keep = m, alpha16, tables, keep
        self.env_kind, self.coef_kind = env_kind, coef_kind
        types = shape.types
        n = types.shape[0]
        self.nb = active_bands(shape.cutoff)
        self.n_short = int((types == SHORT).sum())
        self.same = np.concatenate([[False], types[1:] == types[:-1]]).astype(np.int32)
        self.short = (types == SHORT).astype(np.int32)
        self.types_bits = float(row_bits(tables.types()[None].repeat(types.size, 0), types).sum() + np.log2(N_CUTOFFS))
        env_cost = tables.cost(f"env_{env_kind}_m{m}")
        intra = np.zeros(n, dtype=np.int64)
        intra[0] = 1
        self.env: list[tuple[np.ndarray, np.ndarray, float]] = []  # per channel: residuals, rows, bits
        for c in range(shape.env.shape[0]):
            env = shape.env[c]
            r = env_residuals(env, m, None)
            if np.abs(r).max(initial=0) > ENV_R:
                raise ValueError("envelope residual out of range")
            er = np.stack([env_rows(intra, b, r[:, b - 1] if b else None, types, m * env[:, b - 1] if b else None)
                           for b in range(N_BANDS)], axis=1)
            self.env.append((r, er, float(env_cost[er[:, : self.nb], r[:, : self.nb] + ENV_R].sum())))
        self._bins: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.dense: bool | None = None  # None: per channel and estimate, by the coded share (tests force one)

    def _bin_arrays(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Channel c's step-index base ``s - d`` and ``g + d`` per bin ``[n, N]`` (the dtype's minimum
        where nothing is coded: silent bands, above the cutoff). The rule of :func:`packet.derive`,
        evaluated per (frame, band, sub-block) -- a bin's level is ``m E_b`` plus, in short frames,
        ``P_(k mod 8)`` -- then spread to the bins."""
        if c in self._bins:
            return self._bins[c]
        sh = self.shape
        env, n = sh.env[c], sh.types.shape[0]
        short = (sh.types == SHORT)[:, None, None]
        lev = ((self.m * env)[:, :, None] + np.where(short, sh.prof[c][:, None, :], 0)).astype(np.int32)
        base = TILT[None, :, None].astype(np.int32) + (self.alpha16 * lev) // 16  # step_indices(levels, 0, alpha16)
        gd = lev - base
        small = np.abs(base).max(initial=0) < 1 << 14 and np.abs(gd).max(initial=0) < 1 << 14
        dt = np.int16 if small else np.int32  # levels are a few hundred at most: int16
        never = np.iinfo(dt).min
        gd[env <= silent_index(self.m)] = never
        base = base.astype(dt).reshape(n, -1).take(_BIN_COL, axis=1)
        gd = gd.astype(dt).reshape(n, -1).take(_BIN_COL, axis=1)
        gd[:, sh.cutoff :] = never
        if self.keep:
            self._bins[c] = (base, gd)
        return base, gd

    def _channel(self, c: int, d: int, half: int, dense: bool | None = None) -> tuple:
        """The coded bins of channel c at ``(d, half)``, in frame-major order (as a boolean mask gives
        them): flat positions in ``[n, N]``, values, magnitudes, buckets, extra bits and table rows.

        Two evaluations of the same rules: on the coded bins only (gathers; low rates code few bins)
        or on every bin with shifted slices, then compressed (high rates code most of them).
        ``dense`` forces one (tests); by default the cheaper one for the coded share."""
        base, gd = self._bin_arrays(c)
        coded = gd >= G_MIN + d
        f = np.flatnonzero(coded)
        if dense is None:
            dense = f.size > _DENSE_SHARE * coded.size
        if dense:
            return self._dense(c, d, half, coded, f)
        n, n_bins = base.shape
        base, gd = base.reshape(-1), gd.reshape(-1)
        if n_bins & (n_bins - 1) == 0:  # 1024: shifts instead of divisions
            t_idx = f >> (n_bins.bit_length() - 1)
            k_idx = f & (n_bins - 1)
        else:
            t_idx, k_idx = np.divmod(f, n_bins)
        x = self.coefs[c].reshape(-1)[f].astype(np.float32) * self.scale
        bf = base[f]
        st = bf + np.int32(d)
        q = np.floor(np.abs(x) / steps(st, half) + ROUND)  # coefficients.quantize, magnitude
        mag = np.minimum(q, MAX_MAG).astype(np.int64)
        bucket, nbits, extra = to_buckets(mag)
        # contexts (contexts.py's rules on the coded bins; identical integers): bins that are not
        # coded are zero, and a bucket stands for its magnitude's lower edge where only clamped
        # sums and maxima of it matter (buckets below N_DIRECT are the magnitude itself; above, both
        # are >= N_DIRECT); the previous frame's class reads the edge's log from a 32-entry table
        w = n_bins + 2
        lp = np.zeros((n + 1) * w, np.int8)  # [n + 1, N + 2] buckets: row 0 no previous frame; a column each side
        p0 = f + 2 * t_idx  # = t (N + 2) + k: bin k - 1 of the previous frame; bin k of this frame is p0 + w + 1
        lp[w + 1 :][p0] = bucket
        parity = k_idx & 1
        cur = np.minimum(lp[w:][p0] + lp[w + 2 :][p0], N_CUR_NBR - 1) * parity  # even bins: 0
        lp2 = lp.reshape(n + 1, w)
        lp2[:, 0], lp2[:, -1] = lp2[:, 2], lp2[:, -3]  # the previous frame's edges: mirrored
        same = self.same[t_idx]
        pb = lp[1:][p0]
        lr = _LQ_BUCKET[pb] + (base[f - n_bins] - bf)  # s_prev - s_now (frame 0 wraps: masked by `same`)
        prev = np.where(pb == 0, 1, 2 + (lr >= -8).astype(np.int32) + (lr >= 8) + (lr >= 24)) * same
        pnb = np.minimum(np.maximum(lp[p0], lp[2:][p0]), N_PREV_NBR - 1) * same
        g = np.clip(gd[f] - np.int32(d), G_MIN, G_MAX) - G_MIN
        rows = ((((self.short[t_idx] * N_G + g) * N_PREV + prev) * N_PREV_NBR + pnb) * N_CUR_NBR + cur) * 2 + parity
        return f, x, mag, bucket, nbits, extra, rows

    def _dense(self, c: int, d: int, half: int, coded: np.ndarray, f: np.ndarray) -> tuple:
        """:meth:`_channel` on every bin ``[n, N]`` (the same rules; bins that are not coded get
        magnitude 0, as in the reference path), compressed to the coded bins at the end."""
        base, gd = self._bin_arrays(c)
        n, n_bins = base.shape
        x = self.coefs[c].astype(np.float32) * self.scale
        q = np.floor(np.abs(x) / steps(base + np.int32(d), half) + ROUND)  # coefficients.quantize, magnitude
        mag = np.where(coded, np.minimum(q, MAX_MAG), 0.0).astype(np.int64)
        bucket, nbits, extra = to_buckets(mag)
        lp = np.zeros((n + 1, n_bins + 2), np.int8)  # row 0: no previous frame; a column each side
        lp[1:, 1:-1] = bucket
        parity = np.arange(n_bins, dtype=np.int32) & 1
        cur = np.minimum(lp[1:, :-2] + lp[1:, 2:], N_CUR_NBR - 1) * parity  # even bins: 0
        lp[:, 0], lp[:, -1] = lp[:, 2], lp[:, -3]  # the previous frame's edges: mirrored
        same = self.same[:, None]
        pb = lp[:-1, 1:-1]
        base_prev = np.concatenate([base[:1], base[:-1]])  # frame 0: masked by `same`
        lr = _LQ_BUCKET[pb] + (base_prev - base)  # s_prev - s_now
        prev = np.where(pb == 0, 1, 2 + (lr >= -8).astype(np.int32) + (lr >= 8) + (lr >= 24)) * same
        pnb = np.minimum(np.maximum(lp[:-1, :-2], lp[:-1, 2:]), N_PREV_NBR - 1) * same
        g = np.clip(gd - np.int32(d), G_MIN, G_MAX) - G_MIN
        rows = ((((self.short[:, None] * N_G + g) * N_PREV + prev) * N_PREV_NBR + pnb) * N_CUR_NBR + cur) * 2 + parity
        return (f, x.reshape(-1)[f], mag.reshape(-1)[f], bucket.reshape(-1)[f], nbits.reshape(-1)[f],
                extra.reshape(-1)[f], rows.reshape(-1)[f])

    def bits(self, d: int, half: int) -> dict[str, float]:
        """:func:`packet.estimate_bits` of the packet's integers at ``(d, half)``, bit for bit."""
        out = {"types": self.types_bits, "envelope": 0.0, "coefficients": 0.0, "signs and extra bits": 0.0}
        coef_cost = self.tables.cost(f"coef_{self.coef_kind}")
        for c in range(len(self.env)):
            _f, _x, mag, bucket, nbits, _extra, rows = self._channel(c, d, half, self.dense)
            out["envelope"] += self.env[c][2]
            out["envelope"] += 3.0 * SHORT_BLOCKS * self.n_short
            out["coefficients"] += float(coef_cost[rows, bucket].sum())
            out["signs and extra bits"] += float(nbits.sum() + np.count_nonzero(mag))
        return out

    def encode(self, d: int, half: int, with_bits: bool = False) -> bytes | tuple[bytes, dict[str, float]]:
        """:func:`packet.encode_packet` of the packet's integers at ``(d, half)``, byte for byte (the
        same symbols in the same order; calls to the range coder are merged, which changes no bit)."""
        tables, sh = self.tables, self.shape
        env_tab = tables.probs(f"env_{self.env_kind}_m{self.m}")
        coef_tab = tables.probs(f"coef_{self.coef_kind}")
        coef_cost = tables.cost(f"coef_{self.coef_kind}")
        out = {"types": self.types_bits, "envelope": 0.0, "coefficients": 0.0, "signs and extra bits": 0.0}
        enc = constriction.stream.queue.RangeEncoder()
        cat = _M.Categorical(perfect=False)
        types = sh.types.astype(np.int32)
        enc.encode(types, cat, _rows(np.repeat(tables.types()[None], types.size, 0)))
        enc.encode(np.array([sh.cutoff // CUTOFF_UNIT], np.int32), _M.Uniform(N_CUTOFFS))
        short = sh.types == SHORT
        nb = self.nb
        for c, (r, er, env_bits) in enumerate(self.env):
            sym, rw = (r[:, :nb] + ENV_R).T.reshape(-1).astype(np.int32), er[:, :nb].T.reshape(-1)
            for a in range(0, sym.size, _ENV_CHUNK):  # band by band, all frames
                enc.encode(sym[a : a + _ENV_CHUNK], cat, env_tab[rw[a : a + _ENV_CHUNK]])
            if short.any():
                enc.encode((-sh.prof[c][short] // PROFILE_STEP).reshape(-1).astype(np.int32),
                           _M.Uniform(PROFILE_LEVELS))
            f, x, mag, bucket, nbits, extra, rows = self._channel(c, d, half, self.dense)
            n_bins = sh.q.shape[-1]
            order = np.argsort(2 * (f // n_bins) + f % 2, kind="stable")  # frame by frame, even bins then odd
            sym, rw = bucket[order].astype(np.int32), rows[order]
            for a in range(0, sym.size, _CHUNK):
                enc.encode(sym[a : a + _CHUNK], cat, coef_tab[rw[a : a + _CHUNK]])
            big = nbits > 0
            if big.any():
                enc.encode(extra[big].astype(np.int32), _M.Uniform(), (1 << nbits[big]).astype(np.int32))
            nz = mag != 0
            if nz.any():
                enc.encode((x[nz] < 0).astype(np.int32), _M.Uniform(2))
            if with_bits:
                out["envelope"] += env_bits
                out["envelope"] += 3.0 * SHORT_BLOCKS * self.n_short
                out["coefficients"] += float(coef_cost[rows, bucket].sum())
                out["signs and extra bits"] += float(nbits.sum() + np.count_nonzero(mag))
        data = enc.get_compressed().astype("<u4").tobytes()
        return (data, out) if with_bits else data

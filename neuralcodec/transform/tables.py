"""Integer probability tables for the transform layer's entropy models: learned and analytic.

Every model is a table of integer frequencies, one row per context (see ``contexts.py``); the
range coder turns a row into probabilities by dividing by its sum, so encoder and decoder see the
same numbers on any machine or device. Two kinds ship side by side in one ``.npz`` (no pickle):

- ``laplace``: the analytic models. Envelope residuals ~ Laplace with one scale per (intra/inter,
  envelope step) fitted on the training corpus; coefficients ~ Laplace with the variance the
  envelope and step imply (``rms / step = 2 ** (g / 8)``), seen through the dead-zone quantizer.
- ``learned``: counts of the same symbols on the training corpus in the full context (band and the
  residual below for the envelope; frame type, g and the previous frame's magnitude for the
  coefficients), smoothed toward the analytic row (maximum a-posteriori with the Laplace row as
  prior), so rarely seen contexts fall back to the analytic model.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError
from .allocation import G_MIN
from .coefficients import N_BUCKETS, ROUND, bucket_edges
from .contexts import COEF_ROWS, ENV_ALPHABET, ENV_R, ENV_ROWS, N_G

ENV_STEPS = (2, 3, 4, 6, 8)  # envelope steps m a file may use (1.5 to 6 dB)
KINDS = ("learned", "laplace")
FLOAT_PREFIX = "fill_"  # float32 arrays: the learned fill's weights (output shaping, not coding)
TOTAL = 1 << 20  # each row sums to about this; every symbol gets at least 1
PRIOR_WEIGHT = 32.0  # pseudo-counts of the analytic row in a learned row


def _freqs(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    return np.maximum(np.round(p * TOTAL), 1).astype(np.int64)


def laplace_env_row(scale: float) -> np.ndarray:
    r = np.arange(-ENV_R, ENV_R + 1, dtype=np.float64)
    cdf = lambda x: np.where(x < 0, 0.5 * np.exp(x / scale), 1 - 0.5 * np.exp(-x / scale))  # noqa: E731
    return np.maximum(cdf(r + 0.5) - cdf(r - 0.5), 1e-12)


def laplace_coef_rows() -> np.ndarray:
    """``[N_G, N_BUCKETS]`` bucket probabilities of |x|/step ~ Exp(mean 2**(g/8)/sqrt 2) through
    the dead zone: |q| = k for |x|/step in [k - ROUND, k + 1 - ROUND)."""
    g = np.arange(N_G) + G_MIN
    b = np.power(2.0, g / 8.0)[:, None] / np.sqrt(2.0)
    edges = bucket_edges().astype(np.float64)
    t = np.maximum(edges - ROUND, 0.0)  # |q| >= k  <=>  |x|/step >= k - ROUND
    t[0] = 0.0
    surv = np.exp(-t[None, :] / b)
    surv[:, -1] = 0.0
    return np.maximum(surv[:, :-1] - surv[:, 1:], 1e-15)


@dataclass
class TableSet:
    """The frozen tables: ``arrays`` maps a name to an int64 array; ``sha256`` of the file."""

    arrays: dict[str, np.ndarray]
    sha256: str = ""

    def env(self, kind: str, m: int) -> np.ndarray:
        """``[ENV_ROWS, ENV_ALPHABET]`` frequencies (rows: ``contexts.env_rows``)."""
        return self.arrays[f"env_{kind}_m{m}"]

    def coef(self, kind: str) -> np.ndarray:
        """``[COEF_ROWS, N_BUCKETS]`` frequencies (rows: ``contexts.coef_context``)."""
        return self.arrays[f"coef_{kind}"]

    def types(self) -> np.ndarray:
        return self.arrays["types"]

    def probs(self, name: str) -> np.ndarray:
        """Table ``name`` as float64 rows (what the range coder is given), cached."""
        key = "p:" + name
        if key not in self._cost:
            f = self.arrays[name]
            self._cost[key] = f.reshape(-1, f.shape[-1]).astype(np.float64)
        return self._cost[key]

    def cost(self, name: str) -> np.ndarray:
        """Ideal code length in bits of every symbol of table ``name`` (rows flattened), cached."""
        if name not in self._cost:
            f = self.arrays[name].astype(np.float64)
            f = f.reshape(-1, f.shape[-1])
            self._cost[name] = np.log2(f.sum(axis=1, keepdims=True)) - np.log2(f)
        return self._cost[name]

    def __post_init__(self) -> None:
        self._cost: dict[str, np.ndarray] = {}

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        out = {k: v.astype(np.float32 if k.startswith(FLOAT_PREFIX) else np.int32) for k, v in self.arrays.items()}
        np.savez_compressed(buf, **dict(sorted(out.items())))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, sha256: str = "") -> TableSet:
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                arrays = {k: z[k].astype(np.float32 if k.startswith(FLOAT_PREFIX) else np.int64) for k in z.files}
        except Exception as exc:  # a damaged or foreign file
            raise ModelNotFoundError(f"entropy tables are unreadable ({exc})") from None
        ts = cls(arrays, sha256)
        ts.check()
        return ts

    def fill_weights(self) -> dict[str, np.ndarray] | None:
        """The learned fill's weights, or None when the file has none."""
        w = {k: v for k, v in self.arrays.items() if k.startswith(FLOAT_PREFIX)}
        return w or None

    def check(self) -> None:
        need = ["types", *(f"coef_{k}" for k in KINDS), *(f"env_{k}_m{m}" for k in KINDS for m in ENV_STEPS)]
        for name in need:
            if name not in self.arrays:
                raise ModelNotFoundError(f"entropy tables lack '{name}'")
            if (self.arrays[name] <= 0).any():
                raise ModelNotFoundError(f"entropy table '{name}' has a non-positive frequency")
        if self.coef("learned").shape != (COEF_ROWS, N_BUCKETS) or self.coef("laplace").shape != (COEF_ROWS, N_BUCKETS):
            raise ModelNotFoundError("coefficient tables have the wrong shape")
        for m in ENV_STEPS:
            for kind in KINDS:
                if self.env(kind, m).shape != (ENV_ROWS, ENV_ALPHABET):
                    raise ModelNotFoundError("envelope tables have the wrong shape")

    def save(self, folder: Path, name: str = "mdct") -> tuple[Path, str]:
        blob = self.to_bytes()
        digest = hashlib.sha256(blob).hexdigest()
        path = folder / f"{name}-{digest[:8]}.npz"
        path.write_bytes(blob)
        return path, digest


def analytic_tables(env_scales: dict[tuple[int, int], float] | None = None) -> TableSet:
    """The analytic model (and the starting point of the learned one)."""
    arrays: dict[str, np.ndarray] = {"types": _freqs(np.array([15.0, 1.0]))}
    per_g = COEF_ROWS // (2 * N_G)  # rows share the Laplace row of their g class
    coef = np.broadcast_to(laplace_coef_rows()[None, :, None, :], (2, N_G, per_g, N_BUCKETS))
    arrays["coef_laplace"] = arrays["coef_learned"] = _freqs(coef.reshape(-1, N_BUCKETS))
    for m in ENV_STEPS:
        rows = np.empty((2, ENV_ROWS // 2, ENV_ALPHABET))
        for intra in (0, 1):
            scale = (env_scales or {}).get((intra, m), (6.0 if intra else 1.5) * 4 / m)
            rows[intra] = laplace_env_row(scale)
        arrays[f"env_laplace_m{m}"] = arrays[f"env_learned_m{m}"] = _freqs(rows.reshape(ENV_ROWS, ENV_ALPHABET))
    return TableSet(arrays)


def learned_from_counts(base: TableSet, env_counts: dict[int, np.ndarray], coef_counts: np.ndarray,
                        types_counts: np.ndarray) -> TableSet:
    """MAP tables: counts plus PRIOR_WEIGHT pseudo-counts of the analytic row."""
    arrays = dict(base.arrays)

    def mix(counts: np.ndarray, prior_freq: np.ndarray) -> np.ndarray:
        prior = prior_freq / prior_freq.sum(axis=-1, keepdims=True)
        return _freqs(counts + PRIOR_WEIGHT * prior)

    arrays["coef_learned"] = mix(coef_counts, base.coef("laplace"))
    for m in ENV_STEPS:
        arrays[f"env_learned_m{m}"] = mix(env_counts[m], base.env("laplace", m))
    arrays["types"] = _freqs(types_counts + 1.0)
    return TableSet(arrays)


def row_bits(freq: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """Ideal code length of ``symbols`` under rows ``freq [n, alphabet]``."""
    tot = freq.sum(axis=-1)
    return np.log2(tot) - np.log2(np.take_along_axis(freq, symbols[:, None], axis=-1)[:, 0])

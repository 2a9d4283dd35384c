"""Fit the learned entropy tables on the corpus (maximum likelihood by counting) and measure them.

    python -m neuralcodec.transform.fit data/corpus --holdout hedgewars-data --out models \\
        --report benchmarks/results/tables_ablation.json

The symbols are exactly those the coder sees (``packet._Symbols``), collected at the operating
points rate control uses (envelope step m with the step offsets D it picks from 6 to 64 kbit/s).
The held-out package is never counted: the report gives the bits of each part under the analytic
and the learned tables on its tracks (music of a package the tables never saw) and on the
validation tracks of the other packages.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..data.cache import ensure_cached, open_cached
from ..data.corpus import load_tracks
from .codec import CHUNK_FRAMES_DEFAULT, Analyzer, quantize_packet
from .coefficients import N_BUCKETS
from .contexts import COEF_ROWS, ENV_ALPHABET, ENV_R, ENV_ROWS
from .packet import LayerParams, _Symbols
from .tables import ENV_STEPS, TableSet, analytic_tables, learned_from_counts

# (m, D) pairs around what rate control picks at 6, 8, 12, 16, 24, 32, 48 and 64 kbit/s stereo
OPERATING_POINTS = ((6, 16), (6, 8), (4, 4), (4, -2), (3, -5), (3, -10), (2, -13), (2, -20))
ALPHA16 = 11


def excerpts(corpus: Path, splits: tuple[str, ...], include: set[str] | None, exclude: set[str],
             seconds: float, per_track: int) -> Iterator[tuple[str, np.ndarray]]:
    """Mid/side excerpts ``[2, n]`` (44.1 kHz) of the corpus tracks, evenly spread in each track."""
    for t in load_tracks(corpus / "manifest.json"):
        if t.split not in splits or t.package in exclude or (include is not None and t.package not in include):
            continue
        audio, scale = open_cached(ensure_cached(t, corpus / "cache"))
        n = int(seconds * 44100)
        for k in range(per_track):
            a = int((k + 1) * (audio.shape[0] - n) / (per_track + 1))
            if a < 0:
                continue
            x = np.asarray(audio[a : a + n], dtype=np.float64).T * scale / 32768.0
            yield t.package, np.stack([(x[0] + x[1]) / 2, (x[0] - x[1]) / 2])


def packets(ms: np.ndarray, frames: int = CHUNK_FRAMES_DEFAULT) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    an = Analyzer(2)
    an.push(ms)
    types, coefs = an.finish()
    for a in range(0, types.size, frames):
        yield types[a : a + frames], coefs[:, a : a + frames]


class Counter:
    def __init__(self) -> None:
        self.env = {m: np.zeros((ENV_ROWS, ENV_ALPHABET)) for m in ENV_STEPS}
        self.coef = np.zeros((COEF_ROWS, N_BUCKETS))
        self.types = np.zeros(2)
        self.env_abs = {(i, m): [0.0, 0] for i in (0, 1) for m in ENV_STEPS}

    def add(self, types: np.ndarray, coefs: np.ndarray, tables: TableSet) -> None:
        self.types += np.bincount(types, minlength=2)
        for m in ENV_STEPS:  # the envelope depends on m only
            ints = quantize_packet(types, coefs, LayerParams(m, 0, ALPHA16, "laplace", "laplace"))
            sy = _Symbols(ints, LayerParams(m, 0, ALPHA16, "laplace", "laplace"), tables)
            for r, er, *_ in sy.channels:
                r, rows = r[:, : sy.nb], er[:, : sy.nb]
                self.env[m] += np.bincount((rows * ENV_ALPHABET + r + ENV_R).reshape(-1),
                                           minlength=self.env[m].size).reshape(self.env[m].shape)
                for intra, sel in ((1, slice(0, 1)), (0, slice(1, None))):
                    acc = self.env_abs[(intra, m)]
                    acc[0] += float(np.abs(r[sel]).sum())
                    acc[1] += r[sel].size
        for m, d in OPERATING_POINTS:
            p = LayerParams(m, d, ALPHA16, "laplace", "laplace")
            sy = _Symbols(quantize_packet(types, coefs, p), p, tables)
            for _r, _rows, _prof, dv, bucket, _nb, _ex, coef_rows in sy.channels:
                sel = dv.coded
                self.coef += np.bincount(coef_rows[sel] * N_BUCKETS + bucket[sel],
                                         minlength=self.coef.size).reshape(self.coef.shape)

    def tables(self) -> TableSet:
        scales = {k: max(v[0] / max(v[1], 1), 0.3) for k, v in self.env_abs.items()}
        base = analytic_tables(scales)
        return learned_from_counts(base, self.env, self.coef, self.types)


def part_bits(tables: TableSet, clips: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Bits per part under each kind of table, summed over ``clips`` at every operating point."""
    out: dict[str, dict[str, float]] = {}
    for kind in ("laplace", "learned"):
        acc: dict[str, float] = {}
        for ms in clips:
            for types, coefs in packets(ms):
                for m, d in OPERATING_POINTS:
                    p = LayerParams(m, d, ALPHA16, kind, kind)
                    for k, v in _Symbols(quantize_packet(types, coefs, p), p, tables).bits().items():
                        acc[k] = acc.get(k, 0.0) + v
        out[kind] = acc
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--holdout", default="hedgewars-data", help="package never counted (the ablation's test set)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--per-track", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("models"))
    ap.add_argument("--report", type=Path, default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    base = analytic_tables()
    counter = Counter()
    n_train = 0
    for _pkg, ms in excerpts(args.corpus, ("train",), None, {args.holdout}, args.seconds, args.per_track):
        for types, coefs in packets(ms):
            counter.add(types, coefs, base)
        n_train += 1
    tables = counter.tables()
    fit_s = time.time() - t0
    held = [ms for _p, ms in excerpts(args.corpus, ("train", "validation"), {args.holdout}, set(), 10.0, 1)]
    val = [ms for _p, ms in excerpts(args.corpus, ("validation",), None, {args.holdout}, 10.0, 1)]
    report = {"train_excerpts": n_train, "seconds_each": args.seconds, "holdout_package": args.holdout,
              "operating_points": OPERATING_POINTS, "fit_seconds": round(fit_s, 1),
              "heldout_package_clips": len(held), "validation_clips": len(val),
              "heldout_package": part_bits(tables, held), "validation_tracks": part_bits(tables, val)}
    for name in ("heldout_package", "validation_tracks"):
        r = report[name]
        report[name]["saving"] = {k: 1 - r["learned"][k] / r["laplace"][k] for k in r["laplace"] if r["laplace"][k] > 0}
    path, digest = tables.save(args.out)
    report["file"], report["sha256"] = path.name, digest
    print(json.dumps({k: report[k] for k in ("file", "fit_seconds")}, indent=1))
    for name in ("heldout_package", "validation_tracks"):
        print(name, {k: f"{v:.1%}" for k, v in report[name]["saving"].items()})
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

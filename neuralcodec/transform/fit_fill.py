"""Train the learned fill (``fill_model.FillNet``) on the corpus and add it to a tables file.

    python -m neuralcodec.transform.fit_fill data/corpus --tables models/mdct-XXXX.npz --out models

Targets are ``log2(|x| / level)`` of the bins the quantizer zeroed, at the operating points of 6 to
64 kbit/s, on training tracks of every package but the held-out one; the network is fitted by least
squares (Adam, CPU), then one global offset is calibrated for log-spectral distance through the
real decoder on training excerpts. Everything runs on a CPU in a few minutes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .allocation import steps
from .codec import Synthesizer, quantize_packet, reconstruct
from .coefficients import dequantize
from .fill_model import HIDDEN, N_FEATURES, FillNet, features
from .fit import ALPHA16, excerpts, packets
from .packet import LayerParams, derive
from .tables import TableSet

POINTS = ((6, 16), (6, 8), (4, 4), (4, -2), (3, -5), (2, -13))
ROWS_PER_PACKET = 6000


def collect(corpus: Path, holdout: str, seconds: float, per_track: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _pkg, ms in excerpts(corpus, ("train",), None, {holdout}, seconds, per_track):
        for types, coefs in packets(ms):
            for m, d in POINTS:
                p = LayerParams(m, d, ALPHA16, "laplace", "laplace")
                ints = quantize_packet(types, coefs, p)
                for c in range(ints.q.shape[0]):
                    dv = derive(types, ints.env[c], ints.prof[c], ints.cutoff, p)
                    x = dequantize(ints.q[c], steps(dv.st, p.half))
                    zero = (ints.q[c] == 0) & ~dv.silent
                    if not zero.any():
                        continue
                    f = features(x, ints.q[c], dv.levels, dv.st, types, None)[zero]
                    level = np.power(2.0, dv.levels[zero] / 8.0)
                    y = np.clip(np.log2(1e-3 + np.abs(coefs[c][zero]) / level), -10.0, 6.0)
                    pick = rng.permutation(f.shape[0])[:ROWS_PER_PACKET]
                    xs.append(f[pick])
                    ys.append(y[pick].astype(np.float32))
    return np.concatenate(xs), np.concatenate(ys)


def train(x: np.ndarray, y: np.ndarray, epochs: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    import torch

    torch.manual_seed(seed)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-3
    xt = torch.from_numpy((x - mean) / std)
    yt = torch.from_numpy(y)
    net = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, HIDDEN),
                              torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    n = xt.shape[0]
    for ep in range(epochs):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, 4096):
            idx = perm[i : i + 4096]
            loss = torch.mean((net(xt[idx])[:, 0] - yt[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        for g in opt.param_groups:
            g["lr"] *= 0.5
        print(f"epoch {ep}: mse {total / n:.3f} (log2 units^2)", flush=True)
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    w = {"fill_mean": mean.astype(np.float32), "fill_std": std.astype(np.float32)}
    for i, layer in enumerate(lin, 1):
        w[f"fill_w{i}"] = layer.weight.detach().numpy().T.copy()
        w[f"fill_b{i}"] = layer.bias.detach().numpy().copy()
    return w


def _scores(clips: list[np.ndarray], fill: str, net: FillNet | None) -> tuple[float, float]:
    """Mean (LSD, SI-SDR) over ``clips`` decoded with ``fill`` at the calibration operating points."""
    from ..bench.metrics import si_sdr, spectral_distances

    lsd, sdr = [], []
    for ms in clips:
        for m, d in POINTS[:4]:  # 6-16 kbit/s: where the fill matters
            p = LayerParams(m, d, ALPHA16, "laplace", "laplace")
            outs = []
            syn = Synthesizer(2)
            for k, (types, coefs) in enumerate(packets(ms)):
                rec = reconstruct(quantize_packet(types, coefs, p), p, k * 256, fill, net)
                outs.append(syn.run(types, rec, 0))
            y = np.concatenate(outs, axis=1)[:, 1024 : 1024 + ms.shape[1]]
            lsd.append(spectral_distances(ms[0], y[0], 44100)[0])
            sdr.append(si_sdr(ms[0], y[0]))
    return float(np.mean(lsd)), float(np.mean(sdr))


def calibrate(weights: dict[str, np.ndarray], clips: list[np.ndarray]) -> tuple[float | None, dict]:
    """Global offset (log2) of the prediction: the lowest LSD among offsets whose LSD and SI-SDR
    are both at least as good as the noise fill's on ``clips`` (None: no offset beats it)."""
    base_lsd, base_sdr = _scores(clips, "noise", None)
    print(f"noise fill: LSD {base_lsd:.3f} SI-SDR {base_sdr:.3f}", flush=True)
    table = {"noise": [base_lsd, base_sdr]}
    best, best_lsd = None, np.inf
    for off in np.arange(-1.0, 1.51, 0.25):
        w = dict(weights)
        w["fill_b3"] = weights["fill_b3"] + off
        lsd, sdr = _scores(clips, "learned", FillNet(w))
        table[f"{off:+.2f}"] = [lsd, sdr]
        ok = lsd <= base_lsd and sdr >= base_sdr
        print(f"offset {off:+.2f}: LSD {lsd:.3f} SI-SDR {sdr:.3f}{'' if ok else '  (worse than noise fill)'}", flush=True)
        if ok and lsd < best_lsd:
            best, best_lsd = float(off), lsd
    return best, table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--tables", type=Path, required=True, help="tables file to extend (its entropy tables are kept)")
    ap.add_argument("--holdout", default="hedgewars-data")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--per-track", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("models"))
    ap.add_argument("--report", type=Path, default=None)
    ap.add_argument("--calibrate-only", action="store_true", help="keep the weights in --tables, recalibrate the offset")
    args = ap.parse_args(argv)
    t0 = time.time()
    base = TableSet.from_bytes(args.tables.read_bytes())
    if args.calibrate_only:  # recalibrate the offset of the weights already in --tables
        w = base.fill_weights()
        if w is None:
            raise SystemExit(f"{args.tables} has no fill weights")
        weights = {k: np.asarray(v, np.float32) for k, v in w.items()}
        rows = 0
    else:
        x, y = collect(args.corpus, args.holdout, args.seconds, args.per_track)
        rows = int(x.shape[0])
        print(f"{rows} training rows ({time.time() - t0:.0f} s)", flush=True)
        weights = train(x, y)
    calib = [ms for _p, ms in excerpts(args.corpus, ("train",), None, {args.holdout}, 6.0, 1)][::12]
    off, table = calibrate(weights, calib)
    if off is None:
        if args.report:
            args.report.write_text(json.dumps({"calibration": table, "verdict": "not shipped"}, indent=1) + "\n")
        raise SystemExit("the learned fill does not beat noise fill on both LSD and SI-SDR at any offset: not shipped")
    weights["fill_b3"] = weights["fill_b3"] + off
    arrays = {k: v for k, v in base.arrays.items() if not k.startswith("fill_")}
    arrays.update(weights)
    path, digest = TableSet(arrays).save(args.out)
    info = {"file": path.name, "sha256": digest, "rows": rows, "offset": off, "calibration": table,
            "seconds": round(time.time() - t0, 1), "holdout_package": args.holdout, "points": POINTS}
    print(json.dumps(info))
    if args.report:
        args.report.write_text(json.dumps(info, indent=1) + "\n")


if __name__ == "__main__":
    main()

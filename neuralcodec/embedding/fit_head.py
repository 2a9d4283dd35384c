"""Fit the projection head contrastively on the corpus, and export it to models/.

    python -m neuralcodec.embedding.fit_head data/corpus --holdout hedgewars-data --out models \\
        --report benchmarks/results/embed_head_fit.json

Data: every track of the corpus's train split except the held-out package, analysed by the
encoder itself (:func:`latents.analysis_envelopes`) at the envelope steps of 6, 8, 16 and 64 kbit/s
stereo, pooled over 10 s windows every 2.5 s. Objective: InfoNCE over a batch of tracks, where
the two views of a track are two windows at least 10 s apart, each at a random bitrate; every
other track in the batch is a negative. Model selection: segment -> track recall@1 on the held-out
package (never trained on). The head is small (pooled -> 512 -> 128) and runs in numpy at
inference; torch is needed only here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path

import numpy as np

from .head import from_bytes, to_bytes, unit
from .latents import analysis_envelopes
from .pooling import POOLING, pool

STEPS = {6: "6k", 4: "8k", 3: "16k", 2: "64k"}  # envelope step -> the stereo bitrates that use it
WINDOW = 431  # frames: 10 s at 43.07 frames/s
HOP = 108  # 2.5 s


def corpus_features(corpus: Path, cache: Path | None = None) -> dict[str, np.ndarray]:
    """Pooled windows of every corpus track at every step (cached in ``cache`` as .npz)."""
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    from ..data.cache import ensure_cached, open_cached
    from ..data.corpus import load_tracks

    pooled, track, step, start = [], [], [], []
    names, packages, splits = [], [], []
    for i, t in enumerate(load_tracks(corpus / "manifest.json")):
        audio, scale = open_cached(ensure_cached(t, corpus / "cache"))
        x = np.asarray(audio, dtype=np.float32).T * np.float32(scale / 32768.0)
        envs = analysis_envelopes(x, 44100, list(STEPS))
        names.append(t.id)
        packages.append(t.package)
        splits.append(t.split)
        for m, frames in envs.items():
            n = frames.shape[0]
            starts = range(0, max(1, n - WINDOW + 1), HOP)
            for a in starts:
                pooled.append(pool(frames[a : a + WINDOW]))
                track.append(i)
                step.append(m)
                start.append(a)
    out = {"pooled": np.stack(pooled), "track": np.array(track), "step": np.array(step), "start": np.array(start),
           "names": np.array(names), "packages": np.array(packages), "splits": np.array(splits)}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **out)
    return out


def retrieval(vecs: np.ndarray, track: np.ndarray, start: np.ndarray) -> dict[str, float]:
    """Segment -> track on non-overlapping windows: recall@1 and mAP@10 (relevant: the other
    windows of the same track; a window is never its own answer)."""
    sim = vecs @ vecs.T
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1)[:, :10]
    hit = track[order] == track[:, None]
    r1 = float(hit[:, 0].mean())
    n_rel = np.array([(track == t).sum() - 1 for t in track])
    prec = np.cumsum(hit, axis=1) / np.arange(1, 11)
    ap = (prec * hit).sum(axis=1) / np.maximum(np.minimum(n_rel, 10), 1)
    keep = n_rel > 0
    return {"recall_at_1": float(hit[keep, 0].mean()) if keep.any() else r1, "map_at_10": float(ap[keep].mean()),
            "queries": int(keep.sum())}


def cross_rate(q: np.ndarray, idx: np.ndarray) -> float:
    """Query i (one coding) must find row i (another coding of the same window)."""
    return float((np.argmax(q @ idx.T, axis=1) == np.arange(len(q))).mean())


def evaluate(embed, f: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Retrieval at 16k and cross-rate 8k -> 64k on the non-overlapping windows of ``rows``."""
    sel = rows & (f["start"] % (4 * HOP) == 0)
    at = {m: sel & (f["step"] == m) for m in STEPS}
    res = retrieval(embed(f["pooled"][at[3]]), f["track"][at[3]], f["start"][at[3]])
    q, idx = f["pooled"][at[4]], f["pooled"][at[2]]
    assert (f["start"][at[4]] == f["start"][at[2]]).all() and (f["track"][at[4]] == f["track"][at[2]]).all()
    res["cross_8k_64k_recall_at_1"] = cross_rate(embed(q), embed(idx))
    res["cross_6k_64k_recall_at_1"] = cross_rate(embed(f["pooled"][at[6]]), embed(idx))
    return res


def train(f: dict[str, np.ndarray], train_rows: np.ndarray, val_rows: np.ndarray, steps: int, batch: int,
          seed: int, tau: float = 0.1, hidden: int = 512, dim: int = 128, log=print):  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_all = f["pooled"].astype(np.float32)
    mean = x_all[train_rows].mean(axis=0)
    scale = x_all[train_rows].std(axis=0) + 1e-3
    by_track: dict[int, np.ndarray] = {}
    for t in np.unique(f["track"][train_rows]):
        by_track[int(t)] = np.flatnonzero(train_rows & (f["track"] == t))
    tracks = np.array([t for t, r in by_track.items() if len(np.unique(f["start"][r])) >= 2])
    xs = torch.from_numpy((x_all - mean) / scale)
    net = torch.nn.Sequential(torch.nn.Linear(x_all.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, dim))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)

    def view_pairs(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a_idx, b_idx = [], []
        for t in ts:
            rows = by_track[int(t)]
            i = rng.choice(rows)
            far = rows[np.abs(f["start"][rows] - f["start"][i]) >= WINDOW]
            if far.size == 0:
                far = rows[f["start"][rows] != f["start"][i]]
            a_idx.append(i)
            b_idx.append(rng.choice(far))
        return np.array(a_idx), np.array(b_idx)

    def export() -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        layers = [(net[0].weight.detach().numpy().T.copy(), net[0].bias.detach().numpy().copy()),
                  (net[2].weight.detach().numpy().T.copy(), net[2].bias.detach().numpy().copy())]
        return mean, layers

    best: tuple[float, list, int] | None = None
    history = []
    for step in range(1, steps + 1):
        ts = rng.choice(tracks, size=min(batch, tracks.size), replace=False)
        a, b = view_pairs(ts)
        za = torch.nn.functional.normalize(net(xs[a]), dim=1)
        zb = torch.nn.functional.normalize(net(xs[b]), dim=1)
        logits = za @ zb.T / tau
        target = torch.arange(len(ts))
        loss = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == steps:
            _, layers = export()

            def embed(x: np.ndarray, layers=layers) -> np.ndarray:  # type: ignore[no-untyped-def]
                h = np.maximum(((x - mean) / scale) @ layers[0][0] + layers[0][1], 0) @ layers[1][0] + layers[1][1]
                return unit(h)

            val = evaluate(embed, f, val_rows)
            history.append({"step": step, "loss": round(float(loss), 4), **{k: round(v, 4) for k, v in val.items()}})
            log(json.dumps(history[-1]))
            score = val["recall_at_1"] + val["map_at_10"]
            if best is None or score > best[0]:
                best = (score, [(w.copy(), bb.copy()) for w, bb in layers], step)
    assert best is not None
    return mean, scale, best[1], best[2], history


def register(manifest: Path, path: Path, sha: str, meta: dict, report: dict) -> None:
    """Put the head in the manifest's ``heads`` list (replacing the previous head of its base)."""
    man = json.loads(manifest.read_text()) if manifest.exists() else {"format": 1, "models": []}
    entry = {"id": f"head-{sha[:8]}", "base": meta["base"], "file": path.name, "sha256": sha,
             "bytes": path.stat().st_size, "pooling": meta["pooling"], "dim": meta["dim"],
             "objective": meta["objective"], "data": meta["data"], "steps": meta["steps"],
             "best_step": meta["best_step"], "train_wall_s": report["train_s"],
             "hardware": f"CPU ({report['threads']} threads, no GPU)", "ablation": report["ablation"],
             "reproduce": "python -m neuralcodec.embedding.fit_head data/corpus --steps 3000 --threads 2 --out models "
                          "--report benchmarks/results/embed_head_fit.json"}
    man["heads"] = [h for h in man.get("heads", []) if h.get("base") != meta["base"]] + [entry]
    manifest.write_text(json.dumps(man, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--holdout", default="hedgewars-data")
    ap.add_argument("--features", type=Path, default=Path("runs/embed/features.npz"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="folder to export the head into (models/)")
    ap.add_argument("--report", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.time()
    f = corpus_features(args.corpus, args.features)
    t_feat = time.time() - t0
    pk = f["packages"][f["track"]]
    sp = f["splits"][f["track"]]
    train_rows = (pk != args.holdout) & (sp == "train")
    val_rows = pk == args.holdout
    other_val = (pk != args.holdout) & (sp == "validation")
    print(f"features: {len(f['pooled'])} windows, {len(f['names'])} tracks ({t_feat:.0f} s)")
    t1 = time.time()
    mean, scale, layers, best_step, history = train(f, train_rows, val_rows, args.steps, args.batch, args.seed)
    t_train = time.time() - t1

    def raw(x: np.ndarray) -> np.ndarray:
        return unit(x)

    def standardised(x: np.ndarray) -> np.ndarray:
        return unit((x - mean) / scale)

    meta = {"base": "mdct-f961478b", "pooling": POOLING, "dim": int(layers[-1][0].shape[1]),
            "objective": "InfoNCE (tau 0.1) over tracks; views: two 10 s windows >= 10 s apart, random bitrate each",
            "data": f"train split of the corpus minus {args.holdout} ({int(train_rows.sum())} windows)",
            "steps": args.steps, "best_step": best_step, "batch": args.batch, "seed": args.seed}
    blob = to_bytes(mean, scale, layers, meta)
    head = from_bytes(blob, "new head")
    report = {"features_s": round(t_feat, 1), "train_s": round(t_train, 1), "hardware": platform.processor() or "CPU",
              "threads": args.threads, "meta": meta, "history": history, "ablation": {}}
    for name, rows in (("heldout_package", val_rows), ("validation_tracks", other_val)):
        report["ablation"][name] = {k: {kk: round(vv, 4) for kk, vv in evaluate(fn, f, rows).items()}
                                    for k, fn in (("stats", raw), ("stats_standardised", standardised), ("head", head))}
    print(json.dumps(report["ablation"], indent=1))
    if args.out is not None:
        sha = hashlib.sha256(blob).hexdigest()
        path = args.out / f"embed-head-{sha[:8]}.npz"
        path.write_bytes(blob)
        report["file"] = str(path)
        report["sha256"] = sha
        register(args.out / "manifest.json", path, sha, meta, report)
        print(f"wrote {path} and its entry in {args.out / 'manifest.json'}")
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

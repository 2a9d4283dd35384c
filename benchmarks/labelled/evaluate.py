"""Score muzip embeddings and two spectral baselines on the rendered labelled benchmark (issue 9).

    python benchmarks/labelled/evaluate.py data/labelled [--jobs 2] [--out benchmarks/results]

Reads ``DATA/manifest.csv`` (written by render.py). Feature sets, one vector per 10 s clip:

- ``muzip stats 16k`` / ``muzip stats 8k``: ``embed_audio(clip, 44100, bitrate=..., head="none")``,
  the stats-v1 pooling of the integers the codec would write at that rate;
- ``muzip stats + head 16k``: the same with the shipped projection head (only when one is
  installed for the model: ``head="auto"`` returns a space naming a head);
- ``mfcc20``: 20 MFCCs (128 mel bands, DCT-II) mean + std over 2048/512 Hann frames [40];
- ``logmel64``: 64-band log-mel (dB) mean + std over the same frames [128].

Every feature set gets the same classifier, :class:`neuralcodec.search.classifier.LinearClassifier`
(standardised multinomial logistic regression), with its L2 weight picked from a fixed grid by
grouped 5-fold cross-validation on the training clips only. Train on the train-split tunes rendered
with one soundfont, test on the test-split tunes rendered with the other (no tune on both sides);
both directions are scored, TimGM6mb -> FluidR3 is the headline. The 95% interval is a bootstrap
over test groups (tunes/pieces; 2000 resamples, percentile). The majority line is the most
frequent training label's accuracy on the same test clips.

Features are cached in ``DATA/features/``. Writes ``OUT/labelled.json``, ``OUT/labelled.md`` and
the PCA / t-SNE figure ``benchmarks/latents_pca_tsne.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread per process: the pool is the parallelism
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

SR = 44100
N_FFT = 2048
HOP = 512
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
TASKS = ("dance", "region", "composer", "instrument", "key")
DIRECTIONS = (("timgm6mb", "fluidr3"), ("fluidr3", "timgm6mb"))


# -- spectral baselines (numpy only) -----------------------------------------------------------------

def _mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def mel_filterbank(n_mels: int, sr: int = SR, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular HTK-mel filters over 0..sr/2, each normalised to unit area: [n_mels, n_fft//2+1]."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges_mel = np.linspace(0.0, _mel(np.array(sr / 2)), n_mels + 2)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    fb = np.zeros((n_mels, freqs.size))
    for m in range(n_mels):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[m] = np.maximum(0.0, np.minimum(up, down)) * 2.0 / (hi - lo)
    return fb


_FB: dict[int, np.ndarray] = {}


def log_mel(x: np.ndarray, n_mels: int) -> np.ndarray:
    """[frames, n_mels] power log-mel in dB (floor 1e-10)."""
    if n_mels not in _FB:
        _FB[n_mels] = mel_filterbank(n_mels)
    x = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    n = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(N_FFT + 1)[:-1], axis=1)) ** 2
    return 10.0 * np.log10(np.maximum(spec @ _FB[n_mels].T, 1e-10))


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II rows [n_out, n_in]."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m


def mfcc20(x: np.ndarray) -> np.ndarray:
    c = log_mel(x, 128) @ dct_matrix(128, 20).T
    return np.concatenate([c.mean(0), c.std(0)])


def logmel64(x: np.ndarray) -> np.ndarray:
    m = log_mel(x, 64)
    return np.concatenate([m.mean(0), m.std(0)])


# -- muzip embeddings ----------------------------------------------------------------------------------

def muzip(x: np.ndarray, bitrate: str, head: str) -> np.ndarray:
    from neuralcodec.embedding.embed import embed_audio

    rows = embed_audio(x.astype(np.float32), SR, bitrate=bitrate, head=head)
    if head != "none" and "/head-" not in rows[0].space:
        raise RuntimeError(f"no embedding head installed ({rows[0].space})")
    return rows[0].vector


def has_head() -> bool:
    from neuralcodec.embedding.head import load_head
    from neuralcodec.models.registry import resolve

    return load_head("auto", resolve("mdct").model_id) is not None


FEATURES = {
    "muzip stats 16k": lambda x: muzip(x, "16k", "none"),
    "muzip stats + head 16k": lambda x: muzip(x, "16k", "auto"),
    "muzip stats 8k": lambda x: muzip(x, "8k", "none"),
    "mfcc20 mean+std": mfcc20,
    "logmel64 mean+std": logmel64,
}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def _one(job: tuple[str, str]) -> tuple[str, np.ndarray, float]:
    import soundfile as sf

    name, path = job
    x, sr = sf.read(path, dtype="float32")
    assert sr == SR and x.ndim == 1, path
    t = time.perf_counter()
    v = np.asarray(FEATURES[name](x), np.float32)
    return path, v, time.perf_counter() - t


def features(name: str, paths: list[str], cache: Path, jobs: int) -> tuple[np.ndarray, float]:
    """[len(paths), dim] for feature ``name`` (cached per clip path); and seconds per clip."""
    f = cache / f"{_slug(name)}.npz"
    have: dict[str, np.ndarray] = {}
    secs: list[float] = []
    if f.exists():
        z = np.load(f, allow_pickle=False)
        have = dict(zip(z["paths"].tolist(), z["X"], strict=True))
        secs = z["secs"].tolist()
    todo = [p for p in paths if p not in have]
    if todo:
        t0 = time.time()
        with Pool(jobs) as pool:
            for i, (p, v, s) in enumerate(pool.imap_unordered(_one, [(name, p) for p in todo], chunksize=8)):
                have[p] = v
                secs.append(s)
                if (i + 1) % 500 == 0:
                    print(f"  {name}: {i + 1}/{len(todo)} ({time.time() - t0:.0f} s)", file=sys.stderr)
        keys = sorted(have)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(f, paths=np.array(keys), X=np.stack([have[k] for k in keys]), secs=np.array(secs))
    return np.stack([have[p] for p in paths]), float(np.median(secs)) if secs else float("nan")


# -- evaluation ----------------------------------------------------------------------------------------

def fit(X: np.ndarray, y: list[str], groups: list[str]):  # type: ignore[no-untyped-def]
    from neuralcodec.search.classifier import LinearClassifier, cross_validate

    scores = {l2: cross_validate(X, y, k=5, seed=0, l2=l2, groups=groups)["accuracy"] for l2 in L2_GRID}
    best = max(L2_GRID, key=lambda l2: (scores[l2], l2))  # ties: the stronger penalty
    return LinearClassifier(l2=best).fit(X, y), best, scores[best]


def group_bootstrap(hit: np.ndarray, groups: list[str], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    keys = sorted(set(groups))
    index = {g: i for i, g in enumerate(keys)}
    gi = np.array([index[g] for g in groups])
    h = np.bincount(gi, weights=hit.astype(float), minlength=len(keys))
    c = np.bincount(gi, minlength=len(keys)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(keys), size=(n, len(keys)))
    acc = h[draws].sum(1) / c[draws].sum(1)
    lo, hi = np.percentile(acc, [2.5, 97.5])
    return float(lo), float(hi)


def evaluate_task(rows: list[dict], X: np.ndarray, train_sf: str, test_sf: str) -> dict:
    tr = [i for i, r in enumerate(rows) if r["split"] == "train" and r["soundfont"] == train_sf]
    te = [i for i, r in enumerate(rows) if r["split"] == "test" and r["soundfont"] == test_sf]
    y_tr = [rows[i]["label"] for i in tr]
    y_te = np.array([rows[i]["label"] for i in te])
    g_tr = [rows[i]["group"] for i in tr]
    g_te = [rows[i]["group"] for i in te]
    assert not set(g_tr) & set(g_te), "a group on both sides of the split"
    clf, l2, cv = fit(X[tr], y_tr, g_tr)
    pred = np.array(clf.predict(X[te]))
    hit = pred == y_te
    lo, hi = group_bootstrap(hit, g_te)
    labels = sorted(set(y_tr))
    confusion = [[int(np.sum((y_te == a) & (pred == b))) for b in labels] for a in labels]
    return {"accuracy": float(hit.mean()), "ci95": [lo, hi], "l2": l2, "cv_accuracy_train": cv,
            "labels": labels, "confusion": confusion}


def majority_line(rows: list[dict], train_sf: str, test_sf: str) -> dict:
    y_tr = [r["label"] for r in rows if r["split"] == "train" and r["soundfont"] == train_sf]
    te = [r for r in rows if r["split"] == "test" and r["soundfont"] == test_sf]
    labels, counts = np.unique(y_tr, return_counts=True)
    top = str(labels[np.argmax(counts)])
    hit = np.array([r["label"] == top for r in te])
    lo, hi = group_bootstrap(hit, [r["group"] for r in te])
    per_label = {str(k): int(v) for k, v in zip(labels, counts, strict=True)}
    return {"accuracy": float(hit.mean()), "ci95": [lo, hi], "label": top, "n_train": len(y_tr),
            "n_test": len(te), "train_labels": per_label,
            "test_groups": len({r["group"] for r in te}), "train_groups": len({r["group"] for r in rows
                                                                               if r["split"] == "train" and r["soundfont"] == train_sf})}


def picture(rows: list[dict], X: np.ndarray, feature: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    fig, axes = plt.subplots(2, len(TASKS), figsize=(4.2 * len(TASKS), 8.4))
    for j, task in enumerate(TASKS):
        idx = [i for i, r in enumerate(rows) if r["task"] == task]
        Z = X[idx].astype(np.float64)
        Z = (Z - Z.mean(0)) / np.where(Z.std(0) > 1e-9, Z.std(0), 1.0)
        u, s, _ = np.linalg.svd(Z - Z.mean(0), full_matrices=False)
        pcs = u * s
        var = s**2 / np.sum(s**2)
        perplexity = min(30.0, (len(idx) - 1) / 3)
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=0).fit_transform(pcs[:, :50])
        labels = [rows[i]["label"] for i in idx]
        fonts = [rows[i]["soundfont"] for i in idx]
        for lab_i, lab in enumerate(sorted(set(labels))):
            for font, marker in (("timgm6mb", "o"), ("fluidr3", "^")):
                m = np.array([a == lab and f == font for a, f in zip(labels, fonts, strict=True)])
                kw = {"s": 9, "marker": marker, "color": f"C{lab_i}", "alpha": 0.7,
                      "label": lab if font == "timgm6mb" else None}
                axes[0, j].scatter(pcs[m, 0], pcs[m, 1], **kw)
                axes[1, j].scatter(tsne[m, 0], tsne[m, 1], **kw)
        axes[0, j].set_title(f"{task}: PCA ({100 * var[0]:.0f}% + {100 * var[1]:.0f}% var)", fontsize=10)
        axes[1, j].set_title(f"{task}: t-SNE (perplexity {perplexity:g})", fontsize=10)
        axes[0, j].legend(fontsize=7, markerscale=1.5, loc="best")
        for a in axes[:, j]:
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(f"{feature} of 10 s rendered clips, standardised; colour = label, "
                 "o = TimGM6mb, ^ = FluidR3", fontsize=12)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def fmt(r: dict) -> str:
    return f"{r['accuracy']:.3f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--figure", type=Path, default=Path("benchmarks/latents_pca_tsne.png"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--features", default=",".join(FEATURES))
    args = ap.parse_args(argv)

    with open(args.data / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    paths = [str(args.data / r["path"]) for r in rows]
    names = [n for n in args.features.split(",") if n]
    if "muzip stats + head 16k" in names and not has_head():
        print("no embedding head installed: skipping 'muzip stats + head 16k'", file=sys.stderr)
        names.remove("muzip stats + head 16k")
    feats: dict[str, np.ndarray] = {}
    cost: dict[str, float] = {}
    for name in names:
        t0 = time.time()
        feats[name], cost[name] = features(name, paths, args.data / "features", args.jobs)
        print(f"{name}: {feats[name].shape[1]} dims, {cost[name] * 1000:.0f} ms/clip median "
              f"({time.time() - t0:.0f} s this run)", file=sys.stderr)

    result: dict = {"data": {}, "results": {}, "features": {}, "settings": {
        "clip_s": 10.0, "sample_rate": SR, "classifier": "neuralcodec.search.classifier.LinearClassifier",
        "l2_grid": list(L2_GRID), "l2_selection": "grouped 5-fold CV accuracy on the training clips",
        "ci": "95% percentile bootstrap over test groups, 2000 resamples",
        "split": "60/40 by group (tune/piece) per label; train on one soundfont, test on the other",
        "python": platform.python_version()}}
    for name in names:
        result["features"][name] = {"dim": int(feats[name].shape[1]), "ms_per_clip_median": round(cost[name] * 1000, 1)}
    t_eval = time.time()
    for task in TASKS:
        idx = [i for i, r in enumerate(rows) if r["task"] == task]
        if not idx:
            continue
        trows = [rows[i] for i in idx]
        for train_sf, test_sf in DIRECTIONS:
            key = f"{train_sf}->{test_sf}"
            maj = majority_line(trows, train_sf, test_sf)
            result["data"].setdefault(task, {})[key] = maj
            for name in names:
                r = evaluate_task(trows, feats[name][idx], train_sf, test_sf)
                result["results"].setdefault(task, {}).setdefault(key, {})[name] = r
                print(f"{task:10s} {key:20s} {name:24s} {fmt(r)}  (majority {maj['accuracy']:.3f})", file=sys.stderr)
    result["settings"]["classify_wall_s"] = round(time.time() - t_eval, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "labelled.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "labelled.md").write_text(markdown(result, names))
    plot_feature = "muzip stats + head 16k" if "muzip stats + head 16k" in feats else "muzip stats 16k"
    if plot_feature in feats:
        picture(rows, feats[plot_feature], plot_feature, args.figure)
    print(f"wrote {args.out / 'labelled.json'}, {args.out / 'labelled.md'}, {args.figure}", file=sys.stderr)


def markdown(result: dict, names: list[str]) -> str:
    head = "TimGM6mb->FluidR3"
    lines = ["# Labelled benchmark (issue 9): muzip embeddings vs spectral baselines", "",
             "10 s clips rendered from music21's corpus with two GM soundfonts; train on the train-split "
             "tunes rendered with TimGM6mb, test on the test-split tunes rendered with FluidR3 (no tune on "
             "both sides). Same classifier for every row (LinearClassifier, L2 by grouped 5-fold CV on the "
             "training clips). Accuracy with a 95% bootstrap interval over test tunes/pieces. "
             "Produced by `python benchmarks/labelled/render.py data/labelled && "
             "python benchmarks/labelled/evaluate.py data/labelled`.", "",
             f"## {head} (headline)", ""]
    tasks = [t for t in TASKS if t in result["results"]]
    lines.append("| feature | dim | " + " | ".join(tasks) + " |")
    lines.append("|---|---|" + "---|" * len(tasks))
    for key in ("timgm6mb->fluidr3", "fluidr3->timgm6mb"):
        if key != "timgm6mb->fluidr3":
            lines += ["", "## FluidR3->TimGM6mb (reverse direction)", "",
                      "| feature | dim | " + " | ".join(tasks) + " |", "|---|---|" + "---|" * len(tasks)]
        for name in names:
            cells = []
            for t in tasks:
                r = result["results"][t][key][name]
                best = max(result["results"][t][key].values(), key=lambda v: v["accuracy"])
                cells.append(f"**{fmt(r)}**" if r is best else fmt(r))
            lines.append(f"| {name} | {result['features'][name]['dim']} | " + " | ".join(cells) + " |")
        lines.append("| majority class | - | " + " | ".join(
            f"{result['data'][t][key]['accuracy']:.3f} ({result['data'][t][key]['label']})" for t in tasks) + " |")
        lines.append("| chance (1/classes) | - | " + " | ".join(
            f"{1 / len(result['data'][t][key]['train_labels']):.3f}" for t in tasks) + " |")
    lines += ["", "## Data", "", "| task | labels (train clips) | n train / test clips | train / test groups |",
              "|---|---|---|---|"]
    for t in tasks:
        d = result["data"][t]["timgm6mb->fluidr3"]
        labs = ", ".join(f"{k} {v}" for k, v in d["train_labels"].items())
        lines.append(f"| {t} | {labs} | {d['n_train']} / {d['n_test']} | {d['train_groups']} / {d['test_groups']} |")
    lines += ["", "## Feature cost", "", "| feature | dim | ms per 10 s clip (median, 1 process) |", "|---|---|---|"]
    for name in names:
        f = result["features"][name]
        lines.append(f"| {name} | {f['dim']} | {f['ms_per_clip_median']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

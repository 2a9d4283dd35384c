"""PCA and t-SNE of per-frame latents read back from real .mzp files, coloured by label (issue 9).

    python benchmarks/labelled/frames.py data/labelled [--per-label 8] [--every 10]

For each task, ``--per-label`` test-split clips per label (FluidR3 renders, fixed seed) are encoded
with muzip at 16 kbit/s in memory; ``neuralcodec.embedding.latents.read_frames`` reads the mid
channel's 24-band envelope (dB, 43 frames/s) back from the .mzp bytes without decoding audio. Every
``--every``-th frame is kept; frames are standardised per band over the task, then PCA and t-SNE
(perplexity 30, on all 24 dimensions). Writes ``benchmarks/latents_frames_pca_tsne.png``.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

import numpy as np

TASKS = ("dance", "region", "composer", "instrument", "key")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--per-label", type=int, default=8)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--bitrate", default="16k")
    ap.add_argument("--figure", type=Path, default=Path("benchmarks/latents_frames_pca_tsne.png"))
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf
    from sklearn.manifold import TSNE

    from neuralcodec.api import encode
    from neuralcodec.embedding.latents import read_frames

    with open(args.data / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test" and r["soundfont"] == "fluidr3"]
    rng = random.Random(0)
    tasks = [t for t in TASKS if any(r["task"] == t for r in rows)]
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.2 * len(tasks), 8.4), squeeze=False)
    t0 = time.time()
    n_clips = 0
    for j, task in enumerate(tasks):
        by_label: dict[str, list[dict]] = {}
        for r in rows:
            if r["task"] == task:
                by_label.setdefault(r["label"], []).append(r)
        X, y = [], []
        for label in sorted(by_label):
            for r in rng.sample(by_label[label], min(args.per_label, len(by_label[label]))):
                audio, rate = sf.read(args.data / r["path"], dtype="float32")
                frames = read_frames(encode(audio, rate, args.bitrate))
                v = frames.values[:: args.every]
                X.append(v)
                y += [label] * len(v)
                n_clips += 1
        Z = np.concatenate(X).astype(np.float64)
        Z = (Z - Z.mean(0)) / np.where(Z.std(0) > 1e-9, Z.std(0), 1.0)
        u, s, _ = np.linalg.svd(Z - Z.mean(0), full_matrices=False)
        pcs = u * s
        var = s**2 / np.sum(s**2)
        emb = TSNE(n_components=2, perplexity=30, init="pca", random_state=0).fit_transform(Z)
        labels = np.array(y)
        for k, label in enumerate(sorted(set(y))):
            m = labels == label
            axes[0, j].scatter(pcs[m, 0], pcs[m, 1], s=4, color=f"C{k}", alpha=0.5, label=label)
            axes[1, j].scatter(emb[m, 0], emb[m, 1], s=4, color=f"C{k}", alpha=0.5)
        axes[0, j].set_title(f"{task}: PCA of {len(Z)} frames ({100 * var[0]:.0f}% + {100 * var[1]:.0f}%)",
                             fontsize=10)
        axes[1, j].set_title(f"{task}: t-SNE of the same frames", fontsize=10)
        axes[0, j].legend(fontsize=7, markerscale=3, loc="best")
        for a in axes[:, j]:
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(f"Per-frame latents (mid envelope, 24 bands) read from .mzp at {args.bitrate}: "
                 f"{args.per_label} FluidR3 test clips per label, every {args.every}th frame; colour = label",
                 fontsize=12)
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=100)
    print(f"wrote {args.figure} ({n_clips} clips encoded and read back, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()

"""Retrieval with muzip embeddings on real music the head never trained on, through real .mzp files.

    python benchmarks/embed_retrieval.py data/corpus --out benchmarks/results/embed_retrieval.json

Clips: up to ``--per-track`` non-overlapping 10 s clips of every track of the held-out package
(``--holdout``, default hedgewars-data, used only for the head's model selection) and of the
validation split of the other corpus packages (never seen by the head). Each clip is coded at 6, 8,
16 and 64 kbit/s with the default model; vectors are read back with ``embed_files`` from the .mzp
bytes. Reported, for the pooled statistics alone and with the shipped head:

- segment -> track: a 16k clip's nearest other clip is from the same track (recall@1), mAP@10;
- cross-bitrate: an 8k (or 6k) clip finds its own 64k coding among all 64k clips (recall@1);
- speed: ``embed_files`` over the .mzp files, seconds of audio per second on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuralcodec import api  # noqa: E402
from neuralcodec.data.cache import ensure_cached, open_cached  # noqa: E402
from neuralcodec.data.corpus import load_tracks  # noqa: E402
from neuralcodec.embedding.embed import embed_files  # noqa: E402
from neuralcodec.embedding.fit_head import cross_rate, retrieval  # noqa: E402

RATES = ("6k", "8k", "16k", "64k")
SECONDS = 10


def clips(corpus: Path, holdout: str, per_track: int):  # type: ignore[no-untyped-def]
    for t in load_tracks(corpus / "manifest.json"):
        if not (t.package == holdout or t.split == "validation"):
            continue
        audio, scale = open_cached(ensure_cached(t, corpus / "cache"))
        n = SECONDS * 44100
        k = min(per_track, audio.shape[0] // n)
        if k < 1:
            continue
        gap = (audio.shape[0] - k * n) // k
        for j in range(k):
            a = j * (n + gap)
            x = np.asarray(audio[a : a + n], dtype=np.float32).T * np.float32(scale / 32768.0)
            yield t, j, a / 44100, x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--holdout", default="hedgewars-data")
    ap.add_argument("--per-track", type=int, default=6)
    ap.add_argument("--work", type=Path, default=Path("runs/embed_bench"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/embed_retrieval.json"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    meta = []
    t0 = time.time()
    for t, _j, start, x in clips(args.corpus, args.holdout, args.per_track):
        name = f"{t.package}-{len(meta):04d}"
        for r in RATES:
            p = args.work / f"{name}-{r}.mzp"
            if not p.exists():
                p.write_bytes(api.encode(x, 44100, r))
        meta.append({"name": name, "track": t.id, "package": t.package, "heldout": t.package == args.holdout,
                     "start": start})
    encode_s = time.time() - t0
    track_ids = {tid: i for i, tid in enumerate(dict.fromkeys(m["track"] for m in meta))}
    track = np.array([track_ids[m["track"]] for m in meta])
    groups = {"heldout_package": np.array([m["heldout"] for m in meta]),
              "validation_tracks": np.array([not m["heldout"] for m in meta])}
    groups["all"] = np.ones(len(meta), bool)
    files = {r: [args.work / f"{m['name']}-{r}.mzp" for m in meta] for r in RATES}
    results: dict = {"clips": len(meta), "tracks": len(track_ids), "seconds_per_clip": SECONDS,
                     "packages": sorted({m["package"] for m in meta}), "encode_s": round(encode_s, 1), "by_head": {}}
    for head in ("none", "auto"):
        vec = {}
        for r in RATES:
            t1 = time.perf_counter()
            rows = embed_files(files[r], head=head)
            dt = time.perf_counter() - t1
            vec[r] = np.stack([row.vector for row in rows])
            if r == "16k":
                speed = {"files": len(rows), "audio_s": len(rows) * SECONDS, "wall_s": round(dt, 3),
                         "x_realtime": round(len(rows) * SECONDS / dt, 1)}
        space = rows[0].space
        res = {"space": space, "speed_16k": speed}
        for g, sel in groups.items():
            tr = track[sel]
            rr = retrieval(vec["16k"][sel], tr, np.zeros(sel.sum()))
            res[g] = {"segment_to_track": {k: round(v, 4) if isinstance(v, float) else v for k, v in rr.items()},
                      "cross_8k_64k_recall_at_1": round(cross_rate(vec["8k"][sel], vec["64k"][sel]), 4),
                      "cross_6k_64k_recall_at_1": round(cross_rate(vec["6k"][sel], vec["64k"][sel]), 4),
                      "cross_64k_8k_recall_at_1": round(cross_rate(vec["64k"][sel], vec["8k"][sel]), 4),
                      "clips": int(sel.sum())}
        results["by_head"][head] = res
        print(json.dumps(res, indent=1))
    results["cpu"] = os.cpu_count()
    results["command"] = "python benchmarks/embed_retrieval.py data/corpus"
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results))


def markdown(r: dict) -> str:
    L = ["# Retrieval with muzip embeddings on held-out music (issue 9)", "",
         f"{r['clips']} clips of {r['seconds_per_clip']} s from {r['tracks']} tracks ({', '.join(r['packages'])}): "
         "every track of the package held out of the head's training (hedgewars-data, used only to pick the "
         "head's training step) and the validation split of the others (never seen). Each clip coded to a real "
         ".mzp at 6, 8, 16 and 64 kbit/s; vectors read back with `embed_files`. "
         f"`{r['command']}`.", "",
         "| vectors | clips | segment->track recall@1 | mAP@10 | 8k->64k recall@1 | 6k->64k recall@1 | 64k->8k recall@1 |",
         "|---|---|---:|---:|---:|---:|---:|"]
    for res in r["by_head"].values():
        for g in ("validation_tracks", "heldout_package", "all"):
            x = res[g]
            L.append(f"| {res['space']} | {g.replace('_', ' ')} ({x['clips']}) | {x['segment_to_track']['recall_at_1']:.3f} | "
                     f"{x['segment_to_track']['map_at_10']:.3f} | {x['cross_8k_64k_recall_at_1']:.3f} | "
                     f"{x['cross_6k_64k_recall_at_1']:.3f} | {x['cross_64k_8k_recall_at_1']:.3f} |")
    L += ["", "Speed of `embed_files` over the 16k files (one process, this 2-core VM):", ""]
    for res in r["by_head"].values():
        s = res["speed_16k"]
        L.append(f"- {res['space']}: {s['audio_s']} s of audio in {s['wall_s']} s, {s['x_realtime']}x realtime")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()

"""Search speed of `muzip similar` over N random unit vectors of the real embedding size.

Measures, on this machine:
- exact (numpy) search: index build, ms per single query (p50 / p95 over --queries queries),
  and per query in a batch of 100;
- usearch (if installed, --usearch): HNSW build time, ms per query, how often a query (a noisy copy
  of an index vector) finds its source first, and recall@k against exact. Random vectors are the
  hardest case for a graph index: apart from the source, every vector is about equally far
  (cosine ~0 +- 0.05), so recall of the other 9 neighbours measures little that matters for music;
- the whole command, `muzip similar --row R --index T.parquet -k 10` (process start, Parquet read,
  search, print), median wall time over a few runs.

The vector size is the one `muzip embed` gives now (an embedding of a 2 s synthetic clip), unless
--dim is given. Results go to benchmarks/results/search_speed.json.

    python benchmarks/search_speed.py --threads 1 --usearch      # -> results/search_speed.json (run with no head: --dim 436)
    python benchmarks/search_speed.py --threads 1 -o benchmarks/results/search_speed_128.json  # the shipped head's size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="vectors in the index")
    ap.add_argument("--dim", type=int, default=None, help="vector size (default: what muzip embed gives)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="BLAS / usearch threads")
    ap.add_argument("--usearch", action="store_true", help="also measure the usearch backend (slow to build)")
    ap.add_argument("--cli-runs", type=int, default=5, help="runs of the whole `muzip similar` command")
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks/results/search_speed.json"))
    return ap.parse_args()


def main() -> None:
    args = _args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    from neuralcodec.search.index import ANN_EXPANSION, VectorIndex

    dim_source = "--dim"
    if args.dim is None:
        import torch

        torch.set_num_threads(args.threads)
        from neuralcodec.embedding.embed import embed_audio

        t = np.arange(2 * 44100) / 44100
        clip = (0.2 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).normal(size=t.size))
        row = embed_audio(np.stack([clip, clip]).astype(np.float32), 44100)[0]
        args.dim, dim_source = int(row.vector.shape[-1]), f"muzip embed ({row.space})"
    rng = np.random.default_rng(0)
    V = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    qi = rng.choice(args.n, args.queries, replace=False)
    Q = V[qi] + 0.05 * rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)

    def per_query(index: VectorIndex) -> tuple[list[float], np.ndarray]:
        times, found = [], []
        index.search(Q[:1], args.k)  # warm
        for q in Q:
            t0 = time.perf_counter()
            h = index.search(q, args.k)
            times.append((time.perf_counter() - t0) * 1e3)
            found.append(h.indices[0])
        return times, np.stack(found)

    out: dict = {"n": args.n, "dim": args.dim, "dim_source": dim_source, "k": args.k, "queries": args.queries,
                 "threads": args.threads, "machine": f"{platform.machine()}, {os.cpu_count()} cores visible",
                 "numpy": np.__version__, "python": platform.python_version(),
                 "load_avg_1min_at_start": round(os.getloadavg()[0], 2)}
    t0 = time.perf_counter()
    exact = VectorIndex(V, "bench", "exact")
    build = time.perf_counter() - t0
    times, truth = per_query(exact)
    t0 = time.perf_counter()
    exact.search(Q[:100], args.k)
    batch = (time.perf_counter() - t0) * 1e3 / 100
    hit1 = float(np.mean(truth[:, 0] == qi))
    out["exact"] = {"build_s": round(build, 4), "ms_per_query_p50": round(float(np.percentile(times, 50)), 2),
                    "ms_per_query_p95": round(float(np.percentile(times, 95)), 2),
                    "ms_per_query_batch100": round(batch, 2), "self_found_at_rank1": hit1}
    print("exact", out["exact"], flush=True)

    if args.usearch:
        from neuralcodec.search.index import usearch_available

        if not usearch_available():
            out["usearch"] = "not installed"
        else:
            import usearch

            t0 = time.perf_counter()
            ann = VectorIndex(V, "bench", "usearch", threads=args.threads)
            build = time.perf_counter() - t0
            print(f"usearch build {build:.1f} s", flush=True)
            sweep = []
            for expansion in sorted({64, ANN_EXPANSION, 4 * ANN_EXPANSION}):  # 64: usearch's own default
                ann._ann.expansion_search = expansion  # the search breadth (set by VectorIndex)
                times, got = per_query(ann)
                recall = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(got, truth, strict=True)]))
                sweep.append({"expansion_search": expansion,
                              "ms_per_query_p50": round(float(np.percentile(times, 50)), 2),
                              "ms_per_query_p95": round(float(np.percentile(times, 95)), 2),
                              "self_found_at_rank1": float(np.mean(got[:, 0] == qi)),
                              f"recall_at_{args.k}_vs_exact": round(recall, 4)})
                print("usearch", sweep[-1], flush=True)
            out["usearch"] = {"version": usearch.__version__, "build_s": round(build, 2),
                              "default_expansion_search": ANN_EXPANSION, "sweep": sweep}

    if args.cli_runs:
        from neuralcodec.embedding.table import Embedding, read_table, write_table

        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "index.parquet"
            write_table((Embedding(f"track{i:06d}.mzp", 0.0, 10.0, "bench", 16.0, "bench", V[i])
                         for i in range(args.n)), table)
            t0 = time.perf_counter()
            read_table(table)
            read_s = time.perf_counter() - t0
            walls = []
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
            for r in range(args.cli_runs):
                t0 = time.perf_counter()
                res = subprocess.run([sys.executable, "-m", "neuralcodec", "similar", "--row", str(int(qi[r])),
                                      "--index", str(table), "-k", str(args.k)], capture_output=True, text=True, env=env)
                walls.append(time.perf_counter() - t0)
                if res.returncode != 0:
                    raise SystemExit(res.stderr)
        out["cli"] = {"command": f"muzip similar --row R --index index.parquet -k {args.k}",
                      "parquet_read_s": round(read_s, 3), "wall_s_median": round(float(np.median(walls)), 3),
                      "wall_s_runs": [round(w, 3) for w in walls]}
        print("cli", out["cli"], flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", args.output)


if __name__ == "__main__":
    main()

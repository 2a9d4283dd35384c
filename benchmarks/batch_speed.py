"""Throughput of `muzip encode FOLDER -o OUT --jobs N` and `muzip decode` over held-out clips.

    nice -n 10 python benchmarks/batch_speed.py --clips 8     # writes benchmarks/results/batch_speed.json

Each run is the real command in a fresh process (start-up, model loads and worker spawns
included), timed by the wall clock; the realtime factor is audio seconds / wall seconds. The
thread count is muzip's automatic choice (free cores / jobs), recorded from the --json summary,
with the 1-minute load average before each run: on a shared machine that choice, and the benefit
of more jobs, depend on what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(args: list[str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "neuralcodec", *args, "-q", "--json"], capture_output=True, text=True,
                       cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"muzip {' '.join(args)} failed: {r.stderr.strip()}")
    return wall, json.loads(r.stdout)


def make_library(clips: list[Path], folder: Path) -> Path:
    """Copy ``clips`` into ``folder/lib`` in two sub-folders, as a library has; returns the library."""
    lib = folder / "lib"
    for i, c in enumerate(clips):
        d = lib / ("a" if i % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(c, d / c.name)
    return lib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "batch_speed.json")
    args = ap.parse_args()
    clips = sorted((ROOT / "data" / "val_clips").glob("*.wav"))[: args.clips]
    if not clips:
        raise SystemExit("needs data/val_clips (benchmarks/make_validation_clips.py)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lib = make_library(clips, Path(tmp))
        for jobs in [int(j) for j in args.jobs.split(",")]:
            for kind in ("encode", "decode"):
                src = lib if kind == "encode" else Path(tmp) / f"mzp{jobs}"
                dst = Path(tmp) / (f"mzp{jobs}" if kind == "encode" else f"wav{jobs}")
                load = os.getloadavg()[0]
                wall, summary = run([kind, str(src), "-o", str(dst), "--jobs", str(jobs)])
                audio = summary["audio_seconds"]
                row = {"command": kind, "jobs": jobs, "threads_per_job": summary["threads"], "files": summary["done"],
                       "audio_seconds": audio, "wall_s": round(wall, 2), "realtime": round(audio / wall, 1),
                       "kbps": summary["kbps"], "load_average_1min_before": round(load, 2)}
                rows.append(row)
                print(f"{kind} --jobs {jobs} ({row['threads_per_job']} thread(s) each): {row['files']} files, "
                      f"{audio:.0f} s of audio in {wall:.1f} s = {row['realtime']}x realtime (load {load:.2f})",
                      flush=True)
    result = {"rows": rows, "clips": [c.name for c in clips], "model": "freq (default)", "bitrate": "16k (default)",
              "cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
              "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Decoding time against torch threads, on the machine as found and with one extra busy process.

    nice -n 10 python benchmarks/threads.py --seconds 60     # writes benchmarks/results/threads.json

Why: torch takes one thread per core by default; when another process keeps a core busy, the
threads wait for each other and decoding slows far more than the lost core explains (issue 10:
320 s of music, 10.1 s idle; one busy process 19.3 s on 2 threads against 10.8 s on 1). muzip
therefore picks threads from the free cores (:mod:`neuralcodec.threads`). This script records
the evidence on the current machine: the same file decoded through the API with 1 thread and
with every core, first as the machine is, then with a spinning process of the same niceness.
The 1-minute load average is recorded with each state: on a shared machine "as found" is not idle.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def music(seconds: float) -> np.ndarray:
    """Held-out music clips from data/val_clips (concatenated), or the generated example."""
    import soundfile as sf

    clips = sorted((ROOT / "data" / "val_clips").glob("*.wav"))
    parts, have = [], 0
    for c in clips:
        x, _ = sf.read(c, dtype="float32", always_2d=True)
        parts.append(x.T)
        have += x.shape[0]
        if have >= seconds * 44100:
            break
    if have < seconds * 44100:
        from neuralcodec.example import make_example

        return make_example(seconds)
    return np.concatenate(parts, axis=1)[:, : int(seconds * 44100)]


def spin() -> None:
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="freq")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "threads.json")
    args = ap.parse_args()

    import torch

    import neuralcodec as nc
    from neuralcodec.threads import free_cores, pick_threads, usable_cores

    source = "data/val_clips" if (ROOT / "data" / "val_clips").is_dir() else "generated example"
    data = nc.encode(music(args.seconds), 44100, bitrate="16k", model=args.model, device="cpu")
    nc.decode(data, device="cpu")  # warm-up: model load, allocator
    cores = usable_cores()
    counts = sorted({1, cores})
    rows = []
    for state in ("as found", "+1 busy process"):
        spinner = None
        if state != "as found":
            spinner = multiprocessing.get_context("spawn").Process(target=spin, daemon=True)
            spinner.start()
            time.sleep(1.0)
        load = os.getloadavg()[0]
        try:
            for n in counts:
                torch.set_num_threads(n)
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    nc.decode(data, device="cpu")
                    times.append(time.perf_counter() - t0)
                row = {"state": state, "threads": n, "median_s": round(statistics.median(times), 2),
                       "min_s": round(min(times), 2), "times_s": [round(t, 2) for t in times],
                       "realtime_median": round(args.seconds / statistics.median(times), 1),
                       "load_average_1min": round(load, 2)}
                rows.append(row)
                print(f"{state:16s} {n} thread(s): median {row['median_s']:.2f} s ({row['realtime_median']}x realtime)"
                      f"  runs {row['times_s']}  load {load:.2f}", flush=True)
        finally:
            if spinner is not None:
                spinner.terminate()
                spinner.join()
    load_now = os.getloadavg()[0]
    result = {"audio_seconds": args.seconds, "audio_source": source, "model": args.model, "bitrate": "16k",
              "cores": cores, "rows": rows, "repeats": args.repeats,
              "auto_threads_now": pick_threads(1), "free_cores_now": free_cores(), "load_average_1min_end": round(load_now, 2),
              "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
              "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"), "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

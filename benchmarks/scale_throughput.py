"""Batch throughput on this machine: files per minute with 1 and 2 workers, the process pool against Ray.

    nice -n 10 python benchmarks/scale_throughput.py      # ~3 minutes on 2 cores
    # writes benchmarks/results/scale_throughput.json and .md

Each run is the real command in a fresh process (`muzip encode LIB -o OUT ...` then `muzip decode`),
timed by the wall clock, over the held-out clips (data/val_clips, 16 x 10 s stereo at 44.1 kHz;
made by benchmarks/make_validation_clips.py) with the default model (mdct, 16 kbit/s). Engines:

- ``local``: `--jobs N` (N = 1: in the muzip process; N = 2: a spawned process pool);
- ``ray``: `--engine ray --jobs N`, which starts a local Ray instance, N actors, and stops it (what
  one command costs a user with no cluster);
- ``ray-attached``: `--engine ray --address auto --jobs N` against a Ray head started beforehand
  with ``ray start --head --num-cpus 2`` (stopped at the end): Ray's cost without starting Ray,
  what each run pays on a cluster that is already up.

Every configuration runs ``--repeats`` times in turn (round-robin, so a burst of load from other
work on this shared machine falls on all of them); the table shows the median wall time, and the
1-minute load average is recorded before each run. Each run also writes a results manifest
(`--manifest`), whose per-file coding seconds give the time spent outside coding.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from batch_speed import make_library  # noqa: E402
from batch_speed import run as muzip  # noqa: E402  (one `muzip ... --json` run, timed)

CONFIGS = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2), ("ray-attached", 1), ("ray-attached", 2)]




def engine_args(engine: str, jobs: int) -> list[str]:
    if engine == "local":
        return ["--jobs", str(jobs)]
    if engine == "ray":
        return ["--engine", "ray", "--jobs", str(jobs)]
    return ["--engine", "ray", "--address", "auto", "--jobs", str(jobs)]


def ray_cli(*args: str) -> None:
    exe = Path(sys.executable).with_name("ray")
    subprocess.run([str(exe), *args], check=True, capture_output=True, text=True)


class _Echo:
    def ping(self, job: dict) -> dict:
        return job


def ray_roundtrip(calls: int = 300) -> dict:
    """What Ray adds per file once it is up: one actor, ``calls`` sequential method calls with a
    job-sized dict (paths and options), against the `ray start` head this script started."""
    import ray

    ray.init(address="auto", log_to_driver=False, logging_level="ERROR")
    try:
        actor = ray.remote(_Echo).options(num_cpus=1).remote()
        job = {"kind": "encode", "src": "/catalogue/a/" + "x" * 60 + ".flac", "dst": "/out/a/" + "x" * 60 + ".mzp",
               "options": {"bitrate": "16k", "model": "mdct", "device": "auto", "tags": {}}}
        ray.get(actor.ping.remote(job))  # started and warm
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            ray.get(actor.ping.remote(job))
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fresh = ray.remote(_Echo).options(num_cpus=1).remote()
        ray.get(fresh.ping.remote(job))
        start = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return {"calls": calls, "median_ms": round(statistics.median(times) * 1000, 3),
            "p90_ms": round(sorted(times)[int(0.9 * calls)] * 1000, 3), "actor_start_s": round(start, 3)}


def coding_seconds(manifest: Path) -> float:
    return sum(json.loads(x)["seconds"] for x in manifest.read_text().splitlines() if x.strip())


def markdown(result: dict) -> str:
    lines = [
        "# Batch throughput: 1 vs 2 workers, process pool vs Ray",
        "",
        f"{result['files']} files ({result['audio_seconds']:.0f} s of 44.1 kHz stereo audio, {result['model']} at "
        f"{result['bitrate']}), {result['cpus']} CPU cores shared with other work (1-minute load average before "
        f"the runs: {result['load_min']:.1f} to {result['load_max']:.1f}), {result['date']}. Median of "
        f"{result['repeats']} runs in fresh processes, start-up included; `python benchmarks/scale_throughput.py`.",
        "",
        "| command | engine | workers | wall s (median) | files/min | x realtime | outside coding, s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['command']} | {r['engine']} | {r['workers']} | {r['wall_s']:.2f} | "
                     f"{r['files_per_min']:.0f} | {r['realtime']:.1f} | {r['outside_coding_s']:.2f} |")
    lines += ["", "Ray against the process pool (same files, same worker count; median wall seconds):", "",
              "| command | workers | local | ray (starts Ray) | overhead | ray-attached | overhead |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for o in result["ray_overhead"]:
        lines.append(f"| {o['command']} | {o['workers']} | {o['local_s']:.2f} | {o['ray_s']:.2f} | "
                     f"{o['ray_overhead_s']:+.2f} | {o['attached_s']:.2f} | {o['attached_overhead_s']:+.2f} |")
    rt = result.get("ray_roundtrip")
    if rt:
        lines += ["", f"Ray's cost per file once it is up: a call to a warm actor with a job-sized argument takes "
                      f"{rt['median_ms']:.2f} ms (median of {rt['calls']}; 90th percentile {rt['p90_ms']:.2f} ms), "
                      f"and starting one more actor {rt['actor_start_s']:.2f} s (load average "
                      f"{rt['load_average_1min_before']:.1f})."]
    lines += ["", "Every Ray configuration's .mzp files were checked byte for byte against `--jobs 1`."]
    lines += ["", "\"outside coding\" is the wall time minus the per-file coding seconds (from the results "
              "manifest) divided by the workers: start-up, imports, model loads, scheduling, reading and writing.",
              ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "scale_throughput.json")
    ap.add_argument("--roundtrip-only", action="store_true",
                    help="measure only Ray's per-call round trip and update it in an existing --out")
    args = ap.parse_args()
    if args.roundtrip_only:
        result = json.loads(args.out.read_text())
        ray_cli("start", "--head", "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats")
        try:
            result["ray_roundtrip"] = dict(ray_roundtrip(), load_average_1min_before=round(os.getloadavg()[0], 2),
                                           date=time.strftime("%Y-%m-%d"))
        finally:
            ray_cli("stop")
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(markdown(result))
        print(markdown(result))
        return
    clips = sorted((ROOT / "data" / "val_clips").glob("*.wav"))[: args.clips]
    if not clips:
        raise SystemExit("needs data/val_clips (benchmarks/make_validation_clips.py)")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SystemExit("needs Ray: pip install -e '.[ray]'") from None
    import soundfile as sf

    audio = sum(sf.info(str(c)).duration for c in clips)
    walls: dict[tuple[str, str, int], list[float]] = {}
    outside: dict[tuple[str, str, int], list[float]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        lib = make_library(clips, Path(tmp))
        ray_cli("start", "--head", "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats")
        try:
            for rep in range(args.repeats):
                for engine, jobs in CONFIGS:
                    tag = f"{engine}{jobs}-{rep}"
                    mzp, wav = Path(tmp) / f"mzp-{tag}", Path(tmp) / f"wav-{tag}"
                    for kind, src, dst in (("encode", lib, mzp), ("decode", mzp, wav)):
                        load = os.getloadavg()[0]
                        loads.append(load)
                        manifest = Path(tmp) / f"{kind}-{tag}.jsonl"
                        wall, summary = muzip([kind, str(src), "-o", str(dst), *engine_args(engine, jobs),
                                               "--manifest", str(manifest)])
                        assert summary["done"] == len(clips), summary
                        key = (kind, engine, jobs)
                        walls.setdefault(key, []).append(wall)
                        outside.setdefault(key, []).append(wall - coding_seconds(manifest) / summary["jobs"])
                        print(f"{kind} {engine} x{jobs} (repeat {rep + 1}): {wall:.2f} s "
                              f"({len(clips) / wall * 60:.0f} files/min, load {load:.2f})", flush=True)
                    if rep == 0 and engine != "local":  # same bytes as the local run
                        ref = Path(tmp) / "mzp-local1-0"
                        same = all((mzp / p.relative_to(ref)).read_bytes() == p.read_bytes()
                                   for p in ref.rglob("*.mzp"))
                        assert same, f"{engine} x{jobs}: outputs differ from --jobs 1"
            roundtrip = dict(ray_roundtrip(), load_average_1min_before=round(os.getloadavg()[0], 2),
                             date=time.strftime("%Y-%m-%d"))
        finally:
            ray_cli("stop")
    rows = []
    for (kind, engine, jobs), ws in walls.items():
        w = statistics.median(ws)
        rows.append({"command": kind, "engine": engine, "workers": jobs, "wall_s": round(w, 3),
                     "wall_s_all": [round(x, 3) for x in ws], "files_per_min": round(len(clips) / w * 60, 1),
                     "realtime": round(audio / w, 2),
                     "outside_coding_s": round(statistics.median(outside[(kind, engine, jobs)]), 3)})
    rows.sort(key=lambda r: (r["command"] != "encode", r["engine"], r["workers"]))
    med = {(r["command"], r["engine"], r["workers"]): r["wall_s"] for r in rows}
    overhead = []
    for kind in ("encode", "decode"):
        for jobs in (1, 2):
            loc, ray_s, att = med[(kind, "local", jobs)], med[(kind, "ray", jobs)], med[(kind, "ray-attached", jobs)]
            overhead.append({"command": kind, "workers": jobs, "local_s": loc, "ray_s": ray_s,
                             "ray_overhead_s": round(ray_s - loc, 3), "attached_s": att,
                             "attached_overhead_s": round(att - loc, 3)})
    result = {"rows": rows, "ray_overhead": overhead, "ray_roundtrip": roundtrip, "files": len(clips), "audio_seconds": round(audio, 1),
              "clips": [c.name for c in clips], "model": "mdct (default)", "bitrate": "16k (default)",
              "repeats": args.repeats, "load_min": round(min(loads), 2), "load_max": round(max(loads), 2),
              "cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
              "ray": __import__("ray").__version__, "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()

"""Encode/decode speed (realtime factor) and peak memory of muzip, measured through the public API.

    python benchmarks/speed_memory.py --model freq --threads 2 --speed-seconds 60 --long-minutes 60

Speed: a generated 44.1 kHz stereo clip, encoded and decoded in this process after a warm-up,
torch limited to ``--threads`` (the machine's cores); the best of 5 runs, with the median, every
run and the 1-minute load average beside it. Memory: each long encode/decode runs in a
fresh child process and reports its own peak RSS (``ru_maxrss``), which includes Python, torch and
the model. Results go to ``benchmarks/results/speed_memory-<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent


def write_long_wav(path: Path, minutes: float, rate: int = 44100) -> None:
    """Write a long stereo file block by block (never whole in memory)."""
    from neuralcodec.example import make_example

    block = make_example(10.0, rate)
    with sf.SoundFile(path, "w", rate, 2, subtype="PCM_16") as f:
        for i in range(int(minutes * 6)):
            f.write((block * (0.6 + 0.4 * ((i % 7) / 7))).T)


def child(mode: str, src: str, dst: str, model: str, bitrate: str, threads: int) -> None:
    import torch

    import neuralcodec as nc

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if mode == "encode":
        stats = nc.encode_file(src, dst, bitrate=bitrate, model=model, device="cpu", force=True)
        dur = stats.duration
    else:
        dur = nc.decode_file(src, dst, device="cpu", force=True)["duration"]
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"mode": mode, "audio_s": dur, "wall_s": wall, "peak_rss_mb": peak_kb / 1024}))


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed(model: str, bitrate: str, seconds: float, threads: int, repeats: int = 5) -> dict:
    import torch

    import neuralcodec as nc
    from neuralcodec.example import make_example

    torch.set_num_threads(threads)
    x = np.concatenate([make_example(10.0, seed=i) for i in range(int(seconds // 10))], axis=1)
    nc.decode(nc.encode(x[:, : 44100 * 5], 44100, bitrate, model=model, device="cpu"), device="cpu")  # warm-up
    load0 = os.getloadavg()[0]
    enc, dec = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        data = nc.encode(x, 44100, bitrate, model=model, device="cpu")
        enc.append(time.perf_counter() - t)
        t = time.perf_counter()
        nc.decode(data, device="cpu")
        dec.append(time.perf_counter() - t)
    dur = x.shape[1] / 44100
    # the headline is the best run (this machine's cores are shared: slower runs measure the
    # neighbours); the median and every run are kept beside it, with the load they ran under
    return {"audio_s": dur, "encode_realtime": dur / min(enc), "decode_realtime": dur / min(dec),
            "encode_wall_s": min(enc), "decode_wall_s": min(dec), "repeats": repeats,
            "encode_realtime_median": dur / float(np.median(enc)), "decode_realtime_median": dur / float(np.median(dec)),
            "encode_walls_s": enc, "decode_walls_s": dec, "load_avg_1m_before": load0, "load_avg_1m_after": os.getloadavg()[0]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, src, dst, model, bitrate, threads = sys.argv[2:8]
        child(mode, src, dst, model, bitrate, int(threads))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="freq")
    ap.add_argument("--bitrate", default="16k")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--speed-seconds", type=float, default=60.0)
    ap.add_argument("--long-minutes", type=float, default=60.0, help="0 skips the memory test")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    a = ap.parse_args()
    res: dict = {"model": a.model, "bitrate": a.bitrate, "threads": a.threads, "cpu": platform.processor() or
                 platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}
    res["speed"] = speed(a.model, a.bitrate, a.speed_seconds, a.threads)
    print(json.dumps(res["speed"]), flush=True)
    if a.long_minutes > 0:
        with tempfile.TemporaryDirectory() as tmp:
            wav, mzp, out = Path(tmp) / "long.wav", Path(tmp) / "long.mzp", Path(tmp) / "long.out.wav"
            write_long_wav(wav, a.long_minutes)
            res["long_encode"] = run_child("encode", str(wav), str(mzp), a.model, a.bitrate, str(a.threads))
            res["long_decode"] = run_child("decode", str(mzp), str(out), a.model, a.bitrate, str(a.threads))
            res["long_encode"]["kbps"] = mzp.stat().st_size * 8 / res["long_encode"]["audio_s"] / 1000
            print(json.dumps(res["long_encode"]), json.dumps(res["long_decode"]), flush=True)
    import neuralcodec.models.registry as reg

    res["model_id"] = reg.resolve(a.model).model_id
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"speed_memory-{a.model}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

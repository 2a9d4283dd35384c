"""Start-up time of the `muzip` command: `--help` and `info` must stay well under half a second.

    python benchmarks/startup.py            # writes benchmarks/results/startup.json

Each command runs as a fresh process ``--repeats`` times (wall clock, after one warm-up run that
fills the OS file cache); the median and the minimum are reported, with the 1-minute load average
at the start, since on a shared machine the median moves with the load and the minimum does not.
Also recorded: which heavy modules each command imported (``python -X importtime``): torch must be
absent from `--help` and `info`. The reference rows (bare Python, ``import torch``) show what the
lazy imports avoid.
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
HEAVY = ("torch", "matplotlib", "scipy", "neuralcodec.api", "neuralcodec.train")


def make_mzp(folder: Path) -> Path:
    """A short real .mzp (the shipped freq model, 3 s of the generated example)."""
    sys.path.insert(0, str(ROOT))
    import neuralcodec as nc
    from neuralcodec.example import make_example

    p = folder / "startup.mzp"
    p.write_bytes(nc.encode(make_example(3.0), 44100, bitrate="16k", device="cpu"))
    return p


def wall(cmd: list[str], repeats: int) -> list[float]:
    subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)  # warm the file cache
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)
        out.append(time.perf_counter() - t0)
    return out


def heavy_imports(cmd: list[str]) -> list[str]:
    r = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, check=True, cwd=ROOT)
    names = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    return sorted(h for h in HEAVY if h in names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "startup.json")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        mzp = make_mzp(Path(tmp))
        cases = {
            "python -c pass (reference)": [py, "-c", "pass"],
            "python -c 'import torch' (reference)": [py, "-c", "import torch"],
            "muzip --help": [py, "-m", "neuralcodec", "--help"],
            "muzip encode --help": [py, "-m", "neuralcodec", "encode", "--help"],
            "muzip info FILE": [py, "-m", "neuralcodec", "info", str(mzp)],
        }
        load = os.getloadavg()[0]
        rows = []
        for name, cmd in cases.items():
            times = wall(cmd, args.repeats)
            row = {"command": name, "median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
                   "heavy_imports": [] if "reference" in name else heavy_imports(cmd)}
            rows.append(row)
            print(f"{name:40s} median {row['median_s']:.3f} s  min {row['min_s']:.3f} s  "
                  f"heavy imports: {', '.join(row['heavy_imports']) or 'none'}")
    result = {"rows": rows, "repeats": args.repeats, "load_average_1min_at_start": round(load, 2),
              "load_average_1min_at_end": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
              "python": platform.python_version(), "machine": platform.machine(),
              "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

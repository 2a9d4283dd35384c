"""What `-V/--quality` gives: kbit/s per quality level and model, on held-out music clips.

    nice -n 10 python benchmarks/quality_scale.py --clips 4    # writes benchmarks/results/quality_scale.json

Constant quality fixes the quantizer step (0 -> the model's coarsest trained step, 10 -> its
finest, linear in log2(step)); the bitrate then follows the music. Reported: the real bitrate
(file size x 8 / duration) of each clip and the median over clips.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--levels", default="0,2,4,6,8,10")
    ap.add_argument("--models", default="freq,time")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "quality_scale.json")
    args = ap.parse_args()
    import soundfile as sf
    import torch

    import neuralcodec as nc

    torch.set_num_threads(1)
    clips = sorted((ROOT / "data" / "val_clips").glob("*.wav"))[: args.clips]
    audio = [sf.read(c, dtype="float32", always_2d=True) for c in clips]
    rows = []
    for model in args.models.split(","):
        for level in [float(v) for v in args.levels.split(",")]:
            kbps = []
            for x, rate in audio:
                data = nc.encode(x.T, rate, model=model, quality=level, device="cpu")
                kbps.append(len(data) * 8 / (x.shape[0] / rate) / 1000)
            row = {"model": model, "quality": level, "kbps_median": round(statistics.median(kbps), 2),
                   "kbps_min": round(min(kbps), 2), "kbps_max": round(max(kbps), 2)}
            rows.append(row)
            print(f"{model} -V {level:g}: median {row['kbps_median']} kbit/s ({row['kbps_min']}-{row['kbps_max']})",
                  flush=True)
    out = {"rows": rows, "clips": [c.name for c in clips], "date": time.strftime("%Y-%m-%d")}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

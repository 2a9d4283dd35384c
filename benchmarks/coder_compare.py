"""Learned range coder vs zstd on the same integer latents.

    python benchmarks/coder_compare.py data/val_clips --bitrates 8k,16k,32k,64k

For each clip and bitrate the file is encoded with the range coder (rate control picks the step),
then the very same quantized latents (same step index) are coded with zstd. Sizes are whole-file
bytes, header and index included. Writes ``benchmarks/results/coder_compare-<model>.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import neuralcodec as nc  # noqa: E402
from neuralcodec import container  # noqa: E402
from neuralcodec.audio import read_audio  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", type=Path)
    ap.add_argument("--bitrates", default="8k,16k,32k,64k")
    ap.add_argument("--model", default="freq")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    a = ap.parse_args()
    rows = []
    for clip in sorted(a.clips.glob("*.wav")):
        x, sr = read_audio(clip)
        for br in a.bitrates.split(","):
            rc = nc.encode(x, sr, br, model=a.model, device="cpu")
            k = container.read_header(io.BytesIO(rc))[0]["step_index"]
            zs = nc.encode(x, sr, br, model=a.model, device="cpu", coder="zstd-v1", step_index=k)
            rows.append({"clip": clip.name, "bitrate": br, "step_index": k, "range_bytes": len(rc), "zstd_bytes": len(zs),
                         "saved": 1 - len(rc) / len(zs)})
            print(f"{clip.name[:32]:32s} {br:>4s} k={k:4d} range {len(rc):7d} B  zstd {len(zs):7d} B  "
                  f"saved {100 * rows[-1]['saved']:.1f}%", flush=True)
    summary = {}
    for br in a.bitrates.split(","):
        s = [r["saved"] for r in rows if r["bitrate"] == br]
        summary[br] = {"median_saved": float(np.median(s)), "mean_saved": float(np.mean(s)), "clips": len(s)}
    print(json.dumps(summary, indent=1))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"coder_compare-{a.model}.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

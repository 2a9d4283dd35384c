#!/usr/bin/env python3
"""Does an autoencoder help as a base layer under the transform layer? An upper bound.

    python benchmarks/base_layer_bound.py data/val_clips --limit 6 --out benchmarks/results/base_layer_bound.json

For each clip and rate R the transform layer (``mdct``) codes, at R:
  - ``alone``: the music itself;
  - ``residual``: the music minus the base layer's decoded output B (the freq or time autoencoder
    at its lowest rate), which is added back after decoding: ``y = B + decode(encode(x - B))``.
The base layer's own bits are *not* charged to ``residual``, so this is an upper bound on what the
layered codec could gain (per-band keep/refine/code choices lie between the two). If ``residual``
does not beat ``alone`` even with a free base, a paid base layer cannot.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import neuralcodec as nc  # noqa: E402
from neuralcodec.bench.metrics import VisqolScorer, compute_metrics  # noqa: E402


@click.command()
@click.argument("clips", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--base", default="freq,time", show_default=True, help="autoencoder families to try as the base")
@click.option("--base-rate", default="6k", show_default=True)
@click.option("--bitrates", default="8k,16k,32k", show_default=True)
@click.option("--limit", type=int, default=6)
@click.option("--out", type=click.Path(path_type=Path), default=Path("benchmarks/results/base_layer_bound.json"))
def main(clips: Path, base: str, base_rate: str, bitrates: str, limit: int, out: Path) -> None:
    scorer = VisqolScorer()
    files = sorted(clips.glob("*.wav"))[:limit]
    rows = []
    for f in files:
        x, sr = sf.read(f, dtype="float32", always_2d=True)
        x = x.T
        bases = {fam: nc.decode(nc.encode(x, sr, bitrate=base_rate, model=fam, device="cpu"), device="cpu")[0]
                 for fam in base.split(",")}
        for rate in bitrates.split(","):
            cands = {"alone": nc.decode(nc.encode(x, sr, bitrate=rate))[0]}
            for fam, b in bases.items():
                r = (x - b).astype(np.float32)
                cands[f"residual over {fam}"] = b + nc.decode(nc.encode(r, sr, bitrate=rate))[0]
            for name, y in cands.items():
                m = compute_metrics(x, y, sr)
                rows.append({"clip": f.name, "rate": rate, "layer": name, "visqol": scorer.score(x, y, sr),
                             "lsd_db": m["lsd_db"], "si_sdr_db": m["si_sdr_db"]})
                click.echo(f"{f.name[:30]:30s} {rate:>4s} {name:22s} ViSQOL {rows[-1]['visqol']:.2f} "
                           f"LSD {m['lsd_db']:.2f} SI-SDR {m['si_sdr_db']:.2f}", err=True)
    summary: dict = {}
    for rate in bitrates.split(","):
        for name in sorted({r["layer"] for r in rows}):
            sel = [r for r in rows if r["rate"] == rate and r["layer"] == name]
            summary.setdefault(rate, {})[name] = {k: float(np.median([r[k] for r in sel]))
                                                  for k in ("visqol", "lsd_db", "si_sdr_db")}
    out.write_text(json.dumps({"base_rate": base_rate, "clips": len(files), "summary": summary, "rows": rows},
                              indent=1) + "\n")
    for rate, s in summary.items():
        for name, v in s.items():
            click.echo(f"{rate:>4s} {name:22s} ViSQOL {v['visqol']:.2f} LSD {v['lsd_db']:.2f} SI-SDR {v['si_sdr_db']:.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Ablations of the transform family's learned parts against the analytic parts they replace.

    python benchmarks/transform_ablation.py data/val_clips --out benchmarks/results/transform_ablation

1. Entropy models: each clip is encoded at the step offset D that rate control picks for the
   target (learned tables), then the *same integers* are coded with the analytic tables
   (``--coder mdct-laplace-v1`` at that fixed D): the size difference per part is the learned
   tables' saving, nothing else changes.
2. Fill: the learned-tables file is decoded three ways (the fill changes no bit of the file):
   ``none`` (zeros stay zero), ``noise`` (energy-based noise fill) and ``learned`` (FillNet).
   Reports ViSQOL, log-spectral distance and SI-SDR medians per rate.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import click
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
import neuralcodec as nc  # noqa: E402
from neuralcodec import container  # noqa: E402
from neuralcodec.bench.metrics import VisqolScorer, compute_metrics  # noqa: E402

FILLS = ("none", "noise", "learned")


def available_fills() -> tuple[str, ...]:
    """The learned fill only when the shipped tables carry its weights (else it would be noise fill)."""
    from neuralcodec.layered import load_tables
    from neuralcodec.models.registry import resolve

    return FILLS if load_tables(resolve("mdct")).fill_weights() else FILLS[:2]


def _decode(data: bytes, fill: str) -> np.ndarray:
    os.environ["MUZIP_FILL"] = fill
    try:
        return nc.decode(data, device="cpu")[0]
    finally:
        del os.environ["MUZIP_FILL"]


def same_integers(x: np.ndarray, sr: int, header: container.Header, kind: str) -> bytes:
    """The file a header describes, re-coded with the ``kind`` tables: the same m, D and integers
    (through the codec's own encoder; only the tables differ)."""
    from neuralcodec import layered
    from neuralcodec.audio import StreamResampler, to_mid_side
    from neuralcodec.models.registry import resolve

    entry = resolve("mdct")
    enc = layered.TransformEncoder(x.shape[0], layered.load_tables(entry), kind, kind)
    rs = StreamResampler(sr, layered.SAMPLE_RATE, x.shape[0])
    enc.push(to_mid_side(rs(x)))
    enc.push(to_mid_side(rs(np.zeros((x.shape[0], 0), np.float32), last=True)))
    common = {k: header[k] for k in ("model", "sample_rate", "channels", "samples")}
    lay = header["layer"]
    fields, payloads, _, _ = layered.finish_file(enc, common, None, lay["d"], 0.0, fixed_m=lay["m"], fixed_half=lay["h"])
    buf = io.BytesIO()
    container.write_file(buf, container.Header(fields, major=layered.MAJOR, minor=0), payloads)
    return buf.getvalue()


@click.command()
@click.argument("clips", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--bitrates", default="8k,16k,32k,64k", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("benchmarks/results/transform_ablation"))
@click.option("--limit", type=int, default=0, help="Use only the first N clips (0: all).")
@click.option("--no-visqol", is_flag=True)
def main(clips: Path, bitrates: str, out: Path, limit: int, no_visqol: bool) -> None:
    files = sorted(clips.glob("*.wav"))[: limit or None]
    fills = available_fills()
    scorer = None if no_visqol else VisqolScorer()
    rows = []
    t0 = time.time()
    for rate in bitrates.split(","):
        for f in files:
            x, sr = sf.read(f, dtype="float32", always_2d=True)
            x = x.T
            dur = x.shape[1] / sr
            learned = nc.encode(x, sr, bitrate=rate, model="mdct")
            header, _ = container.read_header(io.BytesIO(learned))
            d = header["layer"]["d"]
            analytic = same_integers(x, sr, header, "laplace")
            row = {"clip": f.name, "target": rate, "d": d, "kbps_learned": len(learned) * 8 / dur / 1000,
                   "kbps_analytic": len(analytic) * 8 / dur / 1000}
            for name, blob in (("learned", learned), ("analytic", analytic)):
                tmp = out.parent / f".ablation-{os.getpid()}.mzp"
                tmp.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(blob)
                try:
                    row[f"parts_{name}"] = nc.info(tmp)["payload_parts"]
                finally:
                    tmp.unlink()
            for fill in fills:
                y = _decode(learned, fill)
                m = compute_metrics(x, y, sr)
                row[f"{fill}_lsd"], row[f"{fill}_sisdr"] = m["lsd_db"], m["si_sdr_db"]
                if scorer is not None:
                    row[f"{fill}_visqol"] = scorer.score(x, y, sr)
            rows.append(row)
            click.echo(f"{rate} {f.name[:40]:40s} {row['kbps_learned']:.1f}/{row['kbps_analytic']:.1f} kbit/s  "
                       + "  ".join(f"{k}: LSD {row[f'{k}_lsd']:.2f} SDR {row[f'{k}_sisdr']:.2f}"
                                   + (f" VQ {row[f'{k}_visqol']:.2f}" if scorer else "") for k in fills), err=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows, bitrates.split(","), scorer is not None, fills)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "summary": summary, "clips": len(files),
                                                    "fills": fills, "seconds": round(time.time() - t0, 1)},
                                                   indent=1) + "\n")
    out.with_suffix(".md").write_text(render(summary, len(files), scorer is not None, fills))
    click.echo(render(summary, len(files), scorer is not None, fills))


def summarize(rows: list[dict], rates: list[str], visqol: bool, fills: tuple[str, ...]) -> dict:
    out = {}
    for rate in rates:
        rr = [r for r in rows if r["target"] == rate]
        parts = {}
        for part in rr[0]["parts_learned"]:
            a = sum(r["parts_analytic"][part] for r in rr)
            b = sum(r["parts_learned"][part] for r in rr)
            parts[part] = {"analytic_bytes": a, "learned_bytes": b, "saving": 1 - b / a if a else 0.0}
        s = {"kbps_learned": float(np.median([r["kbps_learned"] for r in rr])),
             "kbps_analytic": float(np.median([r["kbps_analytic"] for r in rr])),
             "file_saving": 1 - sum(r["kbps_learned"] for r in rr) / sum(r["kbps_analytic"] for r in rr),
             "parts": parts}
        for fill in fills:
            for met in ("lsd", "sisdr") + (("visqol",) if visqol else ()):
                s[f"{fill}_{met}"] = float(np.median([r[f"{fill}_{met}"] for r in rr]))
        out[rate] = s
    return out


def render(summary: dict, n: int, visqol: bool, fills: tuple[str, ...]) -> str:
    lines = [f"# Transform family ablations ({n} clips, medians)", "",
             "## Entropy models: the same integers under analytic vs learned tables", "",
             "| rate | kbit/s learned | kbit/s analytic | whole file | envelope | coefficients | signs and extra bits |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for rate, s in summary.items():
        p = s["parts"]
        lines.append(f"| {rate} | {s['kbps_learned']:.2f} | {s['kbps_analytic']:.2f} | {s['file_saving']:.1%} | "
                     f"{p['envelope']['saving']:.1%} | {p['coefficients']['saving']:.1%} | "
                     f"{p['signs and extra bits']['saving']:.1%} |")
    lines += ["", "Savings are of the learned tables over the analytic ones (bytes summed over clips).", "",
              "## Fill: the same files decoded with " + ", ".join(fills), "",
              "| rate | " + " | ".join(f"{f} ({'ViSQOL / ' if visqol else ''}LSD dB / SI-SDR dB)" for f in fills) + " |",
              "|---|" + "---:|" * len(fills)]
    for rate, s in summary.items():
        cells = []
        for f in fills:
            v = (f"{s[f + '_visqol']:.2f} / " if visqol else "") + f"{s[f + '_lsd']:.2f} / {s[f + '_sisdr']:.2f}"
            cells.append(v)
        lines.append(f"| {rate} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

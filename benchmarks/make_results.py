#!/usr/bin/env python3
"""Assemble benchmarks/RESULTS.md from bench runs (results.json files) and the speed/coder benchmarks.

    python benchmarks/make_results.py runs/bench_base/results.json runs/bench_muzip/results.json

Runs from several results.json files are merged (a later file wins for the same clip, codec and
bitrate), the bench's own report, CSV and plots are regenerated into --out, and RESULTS.md gets
the published tables: medians over clips at each codec's real bitrate, the targets of issues 4 and
5 checked against those medians, rate accuracy, the seed papers' metrics, speed and memory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from neuralcodec.bench.report import render_markdown, summarize, write_csv, write_json, write_plots  # noqa: E402
from neuralcodec.bench.runner import RunRecord  # noqa: E402

PCM_KBPS = 44100 * 16 * 2 / 1000  # 16-bit stereo 44.1 kHz
ORDER = ["mdct", "freq", "time", "opus", "mp3", "resample"]


def merge(paths: list[Path]) -> dict[str, Any]:
    data: dict[str, Any] | None = None
    runs: dict[tuple[str, str, float], dict] = {}
    codecs: dict[str, dict] = {}
    for p in paths:
        d = json.loads(p.read_text())
        data = data or d
        for r in d["runs"]:
            runs[(r["clip"], r["codec"], r["target_kbps"])] = r
        for c in d.get("codecs", []):
            codecs[c["name"]] = c
    assert data is not None
    data = dict(data)
    data["runs"] = list(runs.values())
    data["codecs"] = list(codecs.values())
    data["summary"] = summarize([RunRecord(**r) for r in data["runs"]])
    data["config"] = dict(data["config"], codecs=sorted({r["codec"] for r in data["runs"]}, key=_rank),
                          bitrates=sorted({r["target_kbps"] for r in data["runs"]}))
    data["merged_from"] = [str(p) for p in paths]
    return data


def _rank(codec: str) -> int:
    return ORDER.index(codec) if codec in ORDER else len(ORDER)


def medians(runs: list[dict], codec: str, kbps: float) -> dict[str, float | None]:
    ok = [r for r in runs if r["codec"] == codec and r["target_kbps"] == kbps and r["ok"]]

    def med(vals: list) -> float | None:
        v = [x for x in vals if x is not None]
        return float(np.median(v)) if v else None

    out = {"n": len(ok), "real_kbps": med([r["real_kbps"] for r in ok])}
    for key in ("visqol", "lsd_db", "si_sdr_db", "mel_distance", "mse", "mae", "r2"):
        out[key] = med([r["metrics"].get(key) for r in ok])
    out["encode_s_per_s"] = med([r["encode_s"] / r["duration_s"] for r in ok if r.get("encode_s")])
    out["decode_s_per_s"] = med([r["decode_s"] / r["duration_s"] for r in ok if r.get("decode_s")])
    out["rate_err"] = max((abs(r["real_kbps"] / kbps - 1) for r in ok), default=None)
    return out


def f(v: float | None, d: int = 2) -> str:
    return "-" if v is None else f"{v:.{d}f}"


def median_table(runs: list[dict], codecs: list[str], rates: list[float], label: str, cell) -> list[str]:  # type: ignore[no-untyped-def]
    """Markdown rows: one per codec, one column per rate, ``cell(medians)`` in each."""
    rows = ["| codec | " + " | ".join(f"{r:g}{label}" for r in rates) + " |", "|---|" + "---:|" * len(rates)]
    for c in codecs:
        cells = [cell(m) if (m := medians(runs, c, r))["n"] else "-" for r in rates]
        rows.append(f"| {c} | " + " | ".join(cells) + " |")
    return rows


def build_markdown(data: dict, speed: list[dict], coder: list[dict], rungs: list[float]) -> str:
    runs = data["runs"]
    codecs = sorted({r["codec"] for r in runs}, key=_rank)
    rates = sorted({r["target_kbps"] for r in runs})
    clips = sorted({r["clip"] for r in runs})
    env = data.get("environment", {})
    L: list[str] = ["# muzip benchmark results", ""]
    L += [f"{len(clips)} held-out clips (10 s, 44.1 kHz stereo, validation tracks never seen in training; "
          f"`data/val_clips/clips.json` lists their sources). Every number is a median over clips at the codec's "
          f"**real** bitrate (file bytes x 8 / duration). Made by `benchmarks/run_bench.py` + "
          f"`benchmarks/make_results.py`; raw runs in `benchmarks/results/results.json`.", ""]
    if env:
        L += [f"Environment: {', '.join(f'{k} {v}' for k, v in env.items() if isinstance(v, (str, int, float)))}", ""]
    L += ["![ViSQOL vs bitrate](results/visqol_vs_kbps.png)", "",
          "(The plots are drawn by the bench from means over clips; the tables give medians.)", ""]
    for metric, title, d in (("visqol", "ViSQOL v3 MOS-LQO (audio mode, higher is better)", 2),
                             ("lsd_db", "Log-spectral RMSE, dB (lower is better)", 1),
                             ("si_sdr_db", "SI-SDR, dB (higher is better)", 1)):
        L += [f"## {title}", ""]
        L += median_table(runs, codecs, rates, "k",
                          lambda m, key=metric, d=d: f"{f(m[key], d)} @{f(m['real_kbps'], 1)}")
        L += ["", "Cells: median metric @ median real kbit/s.", ""]
    # targets
    L += ["## Targets", ""]
    def d(a: float | None, b: float | None, sign: int = 1) -> str:
        return "-" if a is None or b is None else f"{sign * (a - b):+.2f}"

    for fam in [c for c in ("mdct", "freq", "time") if c in codecs]:
        for r in rungs:
            m, mp3, opus = medians(runs, fam, r), medians(runs, "mp3", r), medians(runs, "opus", r)
            if not m["n"]:
                continue
            vs_mp3 = "-" if mp3["visqol"] is None or m["visqol"] is None else (
                "above" if m["visqol"] > mp3["visqol"] else "**below**")
            L.append(f"- muzip-{fam} {r:g}k: ViSQOL {f(m['visqol'])} / LSD {f(m['lsd_db'], 1)} / SI-SDR "
                     f"{f(m['si_sdr_db'], 1)}; vs Opus: ViSQOL {d(m['visqol'], opus['visqol'])}, LSD "
                     f"{d(m['lsd_db'], opus['lsd_db'], -1)} dB better, SI-SDR {d(m['si_sdr_db'], opus['si_sdr_db'])} dB; "
                     f"ViSQOL vs MP3 {f(mp3['visqol'])} ({vs_mp3}); worst rate error "
                     f"{f(100 * m['rate_err'] if m['rate_err'] is not None else None, 1)}%")
    L += [""]
    # seed table
    L += ["## The seed papers' metrics (waveform MSE / MAE / R^2, seconds per 1 s of audio)", "",
          "| codec | target | real kbit/s | ratio vs 16-bit PCM | MSE | MAE | R^2 | encode s/s | decode s/s |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in codecs:
        for r in rates:
            m = medians(runs, c, r)
            if m["n"]:
                ratio = PCM_KBPS / m["real_kbps"] if m["real_kbps"] else None
                L.append(f"| {c} | {r:g}k | {f(m['real_kbps'])} | {f(ratio, 0)}x | {m['mse']:.2e} | {m['mae']:.2e} | "
                         f"{f(m['r2'], 3)} | {f(m['encode_s_per_s'], 3)} | {f(m['decode_s_per_s'], 3)} |")
    L += ["", "The 2017 seed paper's waveform autoencoder reached R^2 0.96 at 4x compression (352 kbit/s); "
          "the ratios above are 20-200x.", ""]
    for s in speed:
        sp = s["speed"]
        L += [f"## Speed and memory: {s['model_id']} ({s['threads']} threads, {s.get('cpu', '')})", "",
              f"- {sp['audio_s']:.0f} s of 44.1 kHz stereo at {s['bitrate']}: encode {sp['encode_realtime']:.1f}x realtime, "
              f"decode {sp['decode_realtime']:.1f}x realtime (best of {sp['repeats']}, after warm-up, API in-process)."]
        if "long_encode" in s:
            le, ld = s["long_encode"], s["long_decode"]
            L += [f"- {le['audio_s'] / 60:.0f}-minute stereo file through the CLI path (`encode_file`/`decode_file`) in a fresh "
                  f"process: encode peak RSS {le['peak_rss_mb']:.0f} MB ({le['audio_s'] / le['wall_s']:.1f}x realtime, "
                  f"{le['kbps']:.2f} kbit/s), decode peak RSS {ld['peak_rss_mb']:.0f} MB ({ld['audio_s'] / ld['wall_s']:.1f}x realtime)."]
        L += [""]
    for c in coder:
        L += [f"## Learned range coder vs zstd ({c.get('model', 'freq')}): same integer latents", "",
              "| bitrate | median bytes saved by the range coder |", "|---|---:|"]
        for br, s in c["summary"].items():
            L.append(f"| {br} | {100 * s['median_saved']:.1f}% ({s['clips']} clips) |")
        L += [""]
    L += transform_sections(REPO / "benchmarks" / "results")
    L += ["## Plots", "", "![log-spectral RMSE](results/lsd_vs_kbps.png) ![SI-SDR](results/sisdr_vs_kbps.png)",
          "![speed](results/speed.png)", ""]
    return "\n".join(L) + "\n"


def transform_sections(folder: Path) -> list[str]:
    """The transform family's ablations (learned vs analytic parts) and the base-layer bound."""
    L: list[str] = []
    abl = folder / "transform_ablation.md"
    if abl.exists():
        body = abl.read_text().split("\n", 1)[1]  # drop its title
        L += [f"## {abl.read_text().splitlines()[0].lstrip('# ')}", "",
              "Made by `benchmarks/transform_ablation.py data/val_clips` (raw rows in "
              "`results/transform_ablation.json`).", "", *body.strip().replace("## ", "### ").splitlines(), ""]
    fit = folder / "tables_fit.json"
    if fit.exists():
        r = json.loads(fit.read_text())
        L += ["### Learned tables on music of a package they never saw", "",
              f"Bits of the same symbols (8 operating points, 6-64 kbit/s) under the analytic and the learned tables; "
              f"the tables were counted on {r['train_excerpts']} excerpts of 5 packages, `{r['holdout_package']}` held out "
              "(`python -m neuralcodec.transform.fit`).", "",
              "| clips | envelope | coefficients |", "|---|---:|---:|"]
        for name, label in (("heldout_package", f"{r['holdout_package']} ({r['heldout_package_clips']} x 10 s)"),
                            ("validation_tracks", f"validation tracks of the other packages ({r['validation_clips']} x 10 s)")):
            sv = r[name]["saving"]
            L.append(f"| {label} | {100 * sv['envelope']:.1f}% | {100 * sv['coefficients']:.1f}% |")
        L += ["", "Signs and extra bits are raw (no model) and identical under both.", ""]
    fill = folder / "fill_fit.json"
    if fill.exists():
        r = json.loads(fill.read_text())
        L += ["### Learned fill vs noise fill (training excerpts, calibration of its one offset)", "",
              f"Noise fill: LSD {r['noise_fill'][0]:.2f} dB, SI-SDR {r['noise_fill'][1]:.2f} dB. Learned fill by offset "
              "(log2): " + ", ".join(f"{k}: {v[0]:.2f} / {v[1]:.2f}" for k, v in r["learned_by_offset_log2"].items())
              + f". Verdict: {r['verdict']}.", ""]
    base = folder / "base_layer_bound.json"
    if base.exists():
        r = json.loads(base.read_text())
        L += [f"## Autoencoder as a base layer: an upper bound ({r['clips']} clips, medians)", "",
              f"The transform layer codes, at each rate, either the music (`alone`) or the music minus the autoencoder's "
              f"decoded output at {r['base_rate']} (added back after decoding), with the base layer's own bits *not* "
              "charged (`benchmarks/base_layer_bound.py`). Cells: ViSQOL / LSD dB / SI-SDR dB.", "",
              "| rate | " + " | ".join(next(iter(r["summary"].values())).keys()) + " |",
              "|---|" + "---:|" * len(next(iter(r["summary"].values())))]
        for rate, s in r["summary"].items():
            L.append(f"| {rate} | " + " | ".join(f"{v['visqol']:.2f} / {v['lsd_db']:.2f} / {v['si_sdr_db']:.2f}"
                                                 for v in s.values()) + " |")
        L += [""]
    return L


def update_manifest(manifest: Path, data: dict, rungs: list[float]) -> None:
    """Record each shipped model's validation medians in its manifest entry."""
    man = json.loads(manifest.read_text())
    runs = data["runs"]
    clips = sorted({r["clip"] for r in runs})
    for entry in man["models"]:
        if not entry.get("default", True) or entry["family"] not in {r["codec"] for r in runs}:
            continue
        table = {}
        for r in rungs:
            m = medians(runs, entry["family"], r)
            if m["n"]:
                table[f"{r:g}k"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()
                                    if k in ("real_kbps", "visqol", "lsd_db", "si_sdr_db", "n")}
        entry["validation"] = {"clips": len(clips), "metric": "median over held-out 10 s clips",
                               "source": "benchmarks/RESULTS.md", "by_bitrate": table}
    manifest.write_text(json.dumps(man, indent=1) + "\n")


def table_card(m: dict) -> list[str]:
    """The card of a transform-family model: integer entropy tables plus the learned fill."""
    L = [f"## {m['id']} ({m['family']}{', default' if m.get('default') else ''})", "",
         f"- file `{m['file']}`, {m['bytes'] / 1e6:.2f} MB (numpy .npz, no pickle), sha256 `{m['sha256']}`",
         f"- bitrates {m.get('bitrate_range_kbps', ['?', '?'])[0]}-{m.get('bitrate_range_kbps', ['?', '?'])[1]} kbit/s; "
         "sample rate 44100 Hz (the transform layer itself is not learned)"]
    for key in ("tables", "fill"):
        part = m.get(key)
        if part:
            L.append(f"- {key}: " + "; ".join(f"{k} {v}" for k, v in part.items()))
    if m.get("notes"):
        L.append(f"- notes: {m['notes']}")
    L += validation_table(m.get("validation"))
    L.append("")
    return L


def validation_table(v: dict | None) -> list[str]:
    """A model card's validation medians (from the manifest)."""
    if not v:
        return []
    L = ["", f"Validation ({v['metric']}, {v['clips']} clips, real bitrates):", "",
         "| target | real kbit/s | ViSQOL | log-spectral RMSE dB | SI-SDR dB |", "|---|---:|---:|---:|---:|"]
    for br, row in v["by_bitrate"].items():
        L.append(f"| {br} | {f(row.get('real_kbps'))} | {f(row.get('visqol'))} | {f(row.get('lsd_db'), 1)} | "
                 f"{f(row.get('si_sdr_db'), 1)} |")
    return L


def write_model_cards(manifest: Path) -> Path:
    """models/README.md: one card per shipped model, rendered from the manifest (single source)."""
    man = json.loads(manifest.read_text())
    L = ["# Pretrained models", "",
         "Rendered from `manifest.json` by `benchmarks/make_results.py`. Every file's sha256 is checked before it "
         "is used; autoencoder weights are fp16, loaded with `torch.load(weights_only=True)`; transform-family tables "
         "are numpy .npz loaded with `allow_pickle=False`.", ""]
    for m in man["models"]:
        if m["family"] == "mdct":
            L += table_card(m)
            continue
        tc = m.get("train_config", {})
        data = m.get("training_data", {})
        L += [f"## {m['id']} ({m['family']}{', default' if m.get('default') else ''})", "",
              f"- file `{m['file']}`, {m['bytes'] / 1e6:.1f} MB, sha256 `{m['sha256']}`",
              f"- {m.get('params', 0) / 1e6:.1f} M parameters; sample rate {m['sample_rate']} Hz; bitrates "
              f"{m.get('bitrate_range_kbps', ['?', '?'])[0]}-{m.get('bitrate_range_kbps', ['?', '?'])[1]} kbit/s "
              "(one variable-rate model; rate control picks the quantizer step)",
              f"- trained {m.get('steps')} steps, batch {tc.get('batch')} x {tc.get('frames', 0) * 1024 / 44100:.2f} s "
              f"excerpts, lr {tc.get('lr')}, lambda {tc.get('lam')} per kbit/s, {m.get('train_wall_s', 0) / 60:.0f} min "
              f"wall on {m.get('hardware')}",
        ]
        if isinstance(data, dict):
            L.append(f"- data: Debian packages {', '.join(data.get('packages') or [])}; split by track group "
                     f"({data.get('split_rule')}): train {data['train']['tracks']} tracks / {data['train']['hours']} h, "
                     f"validation {data['validation']['tracks']} tracks / {data['validation']['hours']} h")
        if m.get("notes"):
            L.append(f"- notes: {m['notes']}")
        L += validation_table(m.get("validation"))
        L.append("")
    for h in man.get("heads", []):
        L += head_card(h)
    out = manifest.parent / "README.md"
    out.write_text("\n".join(L) + "\n")
    return out


def head_card(h: dict) -> list[str]:
    """An embedding head's card: what it reads, how it was fitted, and its ablation."""
    L = [f"## {h['id']} (embedding head for {h['base']})", "",
         f"- file `{h['file']}`, {h['bytes'] / 1e6:.2f} MB (numpy .npz, no pickle), sha256 `{h['sha256']}`",
         f"- reads the {h['pooling']} pooled envelope statistics of `{h['base']}` files; outputs {h['dim']}-d unit vectors",
         f"- objective: {h['objective']}",
         f"- data: {h['data']}; {h['steps']} steps (kept: step {h['best_step']}), {h['train_wall_s'] / 60:.1f} min on "
         f"{h['hardware']}",
         f"- reproduce: `{h['reproduce']}`", "",
         "Ablation (10 s windows at 16k; cross-rate: an 8k or 6k window finds its own 64k coding):", "",
         "| clips | vectors | segment->track recall@1 | mAP@10 | 8k->64k recall@1 | 6k->64k recall@1 |",
         "|---|---|---:|---:|---:|---:|"]
    for group, rows in h["ablation"].items():
        for name, r in rows.items():
            L.append(f"| {group.replace('_', ' ')} | {name.replace('_', ' ')} | {r['recall_at_1']:.3f} | "
                     f"{r['map_at_10']:.3f} | {r['cross_8k_64k_recall_at_1']:.3f} | {r['cross_6k_64k_recall_at_1']:.3f} |")
    return L + [""]


def headline(data: dict, rungs: list[float]) -> str:
    """The README's results block: median ViSQOL / LSD / SI-SDR per codec at the headline rungs."""
    runs = data["runs"]
    codecs = sorted({r["codec"] for r in runs}, key=_rank)
    clips = len({r["clip"] for r in runs})
    L = [f"Median over {clips} held-out 10 s clips, each codec at its real bitrate "
         "(full tables, speed and method: [benchmarks/RESULTS.md](benchmarks/RESULTS.md)).", "",
         ]
    L += median_table(runs, codecs, rungs, " kbit/s",
                      lambda m: f"{f(m['visqol'])} / {f(m['lsd_db'], 1)} / {f(m['si_sdr_db'], 1)}")
    L += ["", "Cells: ViSQOL v3 MOS-LQO (higher is better) / log-spectral RMSE dB (lower) / SI-SDR dB (higher).", "",
          "![ViSQOL vs real bitrate (mean over clips)](benchmarks/results/visqol_vs_kbps.png)"]
    return "\n".join(L)


def update_readme(readme: Path, block: str) -> None:
    """Replace the text between the README's results markers."""
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = readme.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        readme.write_text(head + start + "\n" + block + "\n" + end + rest.split(end, 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--md", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    ap.add_argument("--rungs", default="8,16,32,64")
    ap.add_argument("--manifest", type=Path, default=None, help="also write validation medians into this manifest")
    a = ap.parse_args()
    data = merge(a.results)
    a.out.mkdir(parents=True, exist_ok=True)
    write_json(data, a.out / "results.json")
    write_csv(data, a.out / "summary.csv")
    write_plots(data, a.out)
    (a.out / "report.md").write_text(render_markdown(data))
    speed = [json.loads(p.read_text()) for p in sorted(a.out.glob("speed_memory-*.json"))]
    coder = [dict(json.loads(p.read_text()), model=p.stem.split("-", 1)[1]) for p in sorted(a.out.glob("coder_compare-*.json"))]
    a.md.write_text(build_markdown(data, speed, coder, [float(x) for x in a.rungs.split(",")]))
    if a.manifest:
        update_manifest(a.manifest, data, [float(x) for x in a.rungs.split(",")])
        write_model_cards(a.manifest)
    update_readme(REPO / "README.md", headline(data, [float(x) for x in a.rungs.split(",")]))
    print(f"wrote {a.md} and {a.out}/")


if __name__ == "__main__":
    main()

"""Turning bench results into a table, results.json, report.md and PNG plots.

Plots put the *measured* bitrate (file size x 8 / duration) on the x axis, never the flag.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuralcodec.bench.metrics import METRIC_BY_KEY, METRICS
from neuralcodec.bench.units import format_kbps

if TYPE_CHECKING:
    from rich.table import Table

    from neuralcodec.bench.runner import BenchResults, RunRecord

PLOTS: tuple[tuple[str, str], ...] = (
    ("visqol", "visqol_vs_kbps.png"),
    ("lsd_db", "lsd_vs_kbps.png"),
    ("si_sdr_db", "sisdr_vs_kbps.png"),
)
SPEED_PLOT = "speed.png"
_AVERAGED = ("real_kbps", "encode_rtf", "decode_rtf")


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(finite)) if finite else None


def _max(values: Sequence[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return max(finite) if finite else None


def summarize(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per (codec, target bitrate): means over clips, worst-case peak memory.

    Realtime factors are averaged per clip (mean of ratios); ``failed`` counts runs that did
    not produce audio, and failed runs are left out of every mean.
    """
    groups: dict[tuple[str, float], list[RunRecord]] = {}
    for r in runs:
        groups.setdefault((r.codec, r.target_kbps), []).append(r)
    rows: list[dict[str, Any]] = []
    for (codec, kbps), items in groups.items():
        ok = [r for r in items if r.ok]
        row: dict[str, Any] = {"codec": codec, "target_kbps": kbps, "clips": len(items), "failed": len(items) - len(ok)}
        for key in _AVERAGED:
            row[key] = _mean([getattr(r, key) for r in ok])
        for m in METRICS:
            row[m.key] = _mean([r.metrics.get(m.key) for r in ok])
        row["encode_peak_mib"] = _max([r.encode_peak_mib for r in ok])
        row["decode_peak_mib"] = _max([r.decode_peak_mib for r in ok])
        row["peak_mib"] = _max([row["encode_peak_mib"], row["decode_peak_mib"]])
        errors = sorted({r.error for r in items if r.error})
        row["errors"] = errors
        row["detail"] = "; ".join(sorted({r.detail for r in ok if r.detail}))
        rows.append(row)
    return rows


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _fmt_small(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2e}"


_COLUMNS: tuple[tuple[str, str], ...] = (
    ("codec", "codec"),
    ("target_kbps", "target kbit/s"),
    ("real_kbps", "real kbit/s"),
    ("visqol", "ViSQOL"),
    ("lsd_db", "LSD dB"),
    ("si_sdr_db", "SI-SDR dB"),
    ("mel_distance", "mel dist"),
    ("mse", "MSE"),
    ("mae", "MAE"),
    ("r2", "R^2"),
    ("encode_rtf", "enc x RT"),
    ("decode_rtf", "dec x RT"),
    ("peak_mib", "peak MiB"),
    ("failed", "failed"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "codec":
        return str(value)
    if key == "target_kbps":
        return format_kbps(float(value))
    if key == "failed":
        return f"{value}/{row['clips']}" if value else "0"
    if key in ("mse", "mae"):
        return _fmt_small(value)
    if key in ("encode_rtf", "decode_rtf", "peak_mib"):
        return _fmt(value, 0 if value is not None and value >= 100 else 1)
    return _fmt(value, 3 if key in ("r2", "mel_distance") else 2)


_CONSOLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("codec", "codec"),
    ("target_kbps", "kbps"),
    ("real_kbps", "real"),
    ("visqol", "ViSQOL"),
    ("lsd_db", "LSD"),
    ("si_sdr_db", "SI-SDR"),
    ("encode_rtf", "enc×RT"),
    ("decode_rtf", "dec×RT"),
    ("peak_mib", "MiB"),
    ("failed", "fail"),
)


def summary_table(summary: Sequence[dict[str, Any]], visqol: bool = True) -> Table:
    """A rich table of the summary rows (the console view; mel, MSE, MAE, R^2 are in report.md)."""
    from rich import box
    from rich.table import Table

    table = Table(
        title="muzip bench (means over clips)",
        caption="real = measured kbit/s; LSD, SI-SDR in dB; ×RT = realtime factor",
        header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )
    any_failed = any(row["failed"] for row in summary)
    columns = [
        c for c in _CONSOLE_COLUMNS
        if (visqol or c[0] != "visqol") and (any_failed or c[0] != "failed")
    ]
    for key, title in columns:
        table.add_column(
            title, justify="left" if key == "codec" else "right", no_wrap=True, min_width=len(title)
        )
    for row in summary:
        style = "red" if row["failed"] == row["clips"] else None
        table.add_row(*(_cell(row, key) for key, _ in columns), style=style)
    return table


def render_markdown(data: dict[str, Any]) -> str:
    """The report.md text from the JSON-ready results dict."""
    env = data["environment"]
    cfg = data["config"]
    visqol = bool(cfg.get("visqol"))
    columns = [c for c in _COLUMNS if visqol or c[0] != "visqol"]
    lines = [
        "# muzip bench report",
        "",
        f"{len(data['clips'])} clip(s), codecs {', '.join(cfg['codecs'])}, target bitrates "
        f"{', '.join(format_kbps(b) for b in cfg['bitrates_kbps'])} kbit/s"
        + (f", first {cfg['seconds']:g} s of each clip" if cfg.get("seconds") else "")
        + f". Run on {env.get('platform', '?')}, {env.get('cpu_count', '?')} CPU(s), "
        f"{env.get('date_utc', '')}"
        + (f", commit {env['git_commit']}" if env.get("git_commit") else "")
        + ".",
        "",
        "## Summary (means over clips)",
        "",
        "| " + " | ".join(t for _, t in columns) + " |",
        "|" + "|".join("---" if k == "codec" else "---:" for k, _ in columns) + "|",
    ]
    for row in data["summary"]:
        lines.append("| " + " | ".join(_cell(row, k) for k, _ in columns) + " |")
    lines += ["", "## Plots", ""]
    for key, name in PLOTS:
        if key == "visqol" and not visqol:
            continue
        lines.append(f"![{METRIC_BY_KEY[key].label} vs bitrate]({name})")
    lines += [f"![speed]({SPEED_PLOT})", "", "## Codecs", ""]
    for c in data["codecs"]:
        if c.get("error") and c.get("startup_s") is None:
            lines.append(f"- **{c['name']}**: not run: {c['error']}")
        else:
            facts = ", ".join(f"{k}: {v}" for k, v in c.get("info", {}).items())
            lines.append(f"- **{c['name']}**: {facts}; start-up {_fmt(c.get('startup_s'))} s")
    details = [(r["codec"], r["target_kbps"], r["detail"]) for r in data["summary"] if r.get("detail")]
    if details:
        lines += ["", "Settings used:", ""]
        lines += [f"- {c} @ {format_kbps(k)}k: {d}" for c, k, d in details]
    failures = [r for r in data["runs"] if not r["ok"]]
    if failures:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {r['codec']} @ {format_kbps(r['target_kbps'])}k on {r['clip']}: {r['error']}" for r in failures]
    lines += ["", "## Clips", ""]
    lines += [
        f"- {c['id']}: {c['source']} ({c['duration_s']:.2f} s, {c['sample_rate']} Hz, {c['channels']} ch)"
        for c in data["clips"]
    ]
    lines += ["", "## How these numbers are made", "", *_METHOD_NOTES]
    if visqol:
        lines.append(
            f"- ViSQOL: visqol-python {env.get('visqol_python', '?')} (v3 audio mode, SVR model), "
            f"numba {'on' if env.get('visqol_numba') else 'off'}; mono mid at 48 kHz."
        )
    if data.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in data["warnings"]]
    return "\n".join(lines) + "\n"


_METHOD_NOTES: tuple[str, ...] = (
    "- real kbit/s = encoded file size x 8 / clip duration (headers and containers included); "
    "plots use it, not the target.",
    "- Each decoded signal is delay-aligned to its reference by cross-correlation (mono mid) "
    "and zero-padded/cut to the reference length before any metric.",
    "- LSD: RMS over all STFT frames and bins (Hann 2048/512) of the dB difference of "
    "magnitudes floored at -100 dBFS. Mel distance: mean |log10| difference of 80-band mel "
    "magnitudes. SI-SDR, MSE, MAE, R^2 on the waveform. All per channel, then averaged.",
    "- enc/dec x RT: audio seconds per wall-clock second of one encode/decode call, warm "
    "(start-up and model loading excluded and listed per codec), including file I/O and the "
    "codec's own resampling.",
    "- peak MiB: memory the codec needed, worst over the runs: for in-process codecs (lameenc, "
    "muzip) the worker's peak RSS during the call minus its idle RSS before the codec was "
    "loaded (so model weights and activations count, the harness does not); for command-line "
    "codecs (opusenc/opusdec, --external) the tool's own peak RSS.",
)


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write results.json (strict JSON: no NaN)."""
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


SUMMARY_FIELDS: tuple[str, ...] = (
    "codec", "target_kbps", "real_kbps", "visqol", "lsd_db", "si_sdr_db", "mel_distance",
    "mse", "mae", "r2", "encode_rtf", "decode_rtf", "encode_peak_mib", "decode_peak_mib",
    "clips", "failed",
)


def write_csv(data: dict[str, Any], path: Path) -> None:
    """summary.csv: one row per (codec, bitrate), for spreadsheets and RESULTS.md tables."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in data["summary"]:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in SUMMARY_FIELDS})


def _curves(summary: Sequence[dict[str, Any]], key: str) -> dict[str, tuple[list[float], list[float]]]:
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for row in sorted(summary, key=lambda r: (r["codec"], r["target_kbps"])):
        x, y = row.get("real_kbps"), row.get(key)
        if x is None or y is None:
            continue
        xs, ys = curves.setdefault(row["codec"], ([], []))
        xs.append(x)
        ys.append(y)
    return curves


def write_plots(data: dict[str, Any], out_dir: Path) -> list[Path]:
    """Rate-quality plots (metric vs real kbit/s, log x) and a speed bar chart, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = data["summary"]
    written: list[Path] = []
    for key, name in PLOTS:
        if key == "visqol" and not data["config"].get("visqol"):
            continue
        info = METRIC_BY_KEY[key]
        fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
        for codec, (xs, ys) in _curves(summary, key).items():
            ax.plot(xs, ys, marker="o", label=codec)
        _bitrate_axis(ax, [x for xs, _ in _curves(summary, key).values() for x in xs])
        unit = f" ({info.unit})" if info.unit else ""
        better = "higher" if info.higher_is_better else "lower"
        ax.set_ylabel(f"{info.label}{unit}")
        ax.set_title(f"{info.label} vs bitrate ({better} is better)")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no successful runs", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    written.append(_speed_plot(summary, out_dir / SPEED_PLOT, plt))
    return written


_TICKS_KBPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 320, 512, 1024)


def _bitrate_axis(ax: Any, xs: Sequence[float]) -> None:
    """Log-scaled kbit/s axis with plain tick labels at familiar bitrates."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_xlabel("real bitrate (kbit/s, from file size)")
    if xs:
        lo, hi = min(xs) / 1.25, max(xs) * 1.25
        ticks = [t for t in _TICKS_KBPS if lo <= t <= hi]
        if ticks:
            ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _speed_plot(summary: Sequence[dict[str, Any]], path: Path, plt: Any) -> Path:
    codecs = list(dict.fromkeys(r["codec"] for r in summary))  # in the order they were run
    enc = [_mean([r["encode_rtf"] for r in summary if r["codec"] == c]) or 0.0 for c in codecs]
    dec = [_mean([r["decode_rtf"] for r in summary if r["codec"] == c]) or 0.0 for c in codecs]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    pos = np.arange(len(codecs))
    ax.bar(pos - 0.2, enc, width=0.4, label="encode")
    ax.bar(pos + 0.2, dec, width=0.4, label="decode")
    ax.set_xticks(pos, codecs)
    if any(v > 0 for v in enc + dec):
        ax.set_yscale("log")
    ax.set_ylabel("realtime factor (audio s per wall s)")
    ax.set_title("Speed (higher is faster), mean over clips and bitrates")
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(results: BenchResults, out_dir: Path) -> dict[str, Any]:
    """Write results.json, summary.csv, report.md and the PNG plots; return the JSON data."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = results.to_dict()
    write_json(data, out_dir / "results.json")
    write_csv(data, out_dir / "summary.csv")
    write_plots(data, out_dir)
    (out_dir / "report.md").write_text(render_markdown(data), encoding="utf-8")
    return data

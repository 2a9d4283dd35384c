#!/usr/bin/env python3
"""Reproduce the published muzip rate-quality comparison on a folder of validation clips.

    python benchmarks/run_bench.py data/val_clips                # -> benchmarks/results/
    python benchmarks/run_bench.py data/val_clips --max-clips 4 --bitrates 8k,16k --jobs 2

It runs the same harness as ``muzip bench`` (muzip-freq, muzip-time, MP3, Opus, resampling
over the 6-64 kbit/s ladder, ViSQOL on) and writes, into --out:

    results.json   every run, the per-(codec, bitrate) summary, versions and settings
    report.md      tables, method notes, failed runs
    summary.csv    the summary rows, for assembling RESULTS.md
    *.png          ViSQOL / log-spectral RMSE / SI-SDR vs real kbit/s, speed

Cost: ViSQOL (pure Python) takes about 7.7 s per 10 s clip on one core without numba and
about 1 s with numba, for each clip x codec x bitrate; --jobs spreads it over processes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from neuralcodec.bench.codecs import BUILTIN_CODECS, resolve_codecs  # noqa: E402
from neuralcodec.bench.command import RichProgress, print_outcome  # noqa: E402
from neuralcodec.bench.report import write_report  # noqa: E402
from neuralcodec.bench.runner import AUDIO_EXTENSIONS, BenchConfig, run_bench  # noqa: E402
from neuralcodec.bench.units import BenchError, parse_kbps_list, parse_name_list  # noqa: E402

PUBLISHED_BITRATES = "6k,8k,12k,16k,24k,32k,48k,64k"
def _clips(folder: Path, max_clips: int | None) -> list[Path]:
    """The clips in ``folder`` (recursive, sorted by path), the first ``max_clips`` of them."""
    if not folder.is_dir():
        raise BenchError(f"{folder}: not a folder of clips")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS)
    if not files:
        raise BenchError(f"{folder}: no audio clips found")
    return files[:max_clips] if max_clips else files


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the comparison, write the result files; return an exit status."""
    err = Console(stderr=True)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", type=Path, help="folder of validation clips (e.g. data/val_clips)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--bitrates", default=PUBLISHED_BITRATES)
    parser.add_argument("--codecs", default=",".join(BUILTIN_CODECS))
    parser.add_argument("--seconds", type=float, default=10.0, help="crop each clip (default 10 s)")
    parser.add_argument("--max-clips", type=int, default=None, help="use only the first N clips")
    parser.add_argument("--jobs", type=int, default=2, help="parallel ViSQOL processes")
    parser.add_argument("--no-visqol", action="store_true")
    parser.add_argument("--keep-audio", action="store_true")
    parser.add_argument("--force", action="store_true", help="overwrite results in --out")
    args = parser.parse_args(argv)

    try:
        if args.max_clips is not None and args.max_clips < 1:
            raise BenchError("--max-clips must be at least 1")
        if (args.out / "results.json").exists() and not args.force:
            raise BenchError(f"{args.out / 'results.json'} exists; pass --force to overwrite")
        config = BenchConfig(
            inputs=_clips(args.clips, args.max_clips),
            bitrates=parse_kbps_list(args.bitrates),
            codecs=resolve_codecs(parse_name_list(args.codecs), []),
            out_dir=args.out,
            jobs=args.jobs,
            seconds=args.seconds,
            visqol=not args.no_visqol,
            keep_audio=args.keep_audio,
        )
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err) as progress:
            results = run_bench(config, RichProgress(progress), log=progress.console.print)
    except BenchError as exc:
        print(f"run_bench: {exc}", file=sys.stderr)
        return 2
    results.config["command"] = "python benchmarks/run_bench.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    results.config["clips_folder"] = str(args.clips)
    data = write_report(results, args.out)
    print_outcome(results, data, args.out, err)
    return 0 if any(r.ok for r in results.runs) else 1


if __name__ == "__main__":
    sys.exit(main())

"""``muzip bench``: the click command. Parsing and rendering only; the work is in runner.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from neuralcodec.bench.codecs import BUILTIN_CODECS, parse_external, resolve_codecs
from neuralcodec.bench.units import BenchError, parse_kbps_list, parse_name_list

if TYPE_CHECKING:
    from rich.console import Console

    from neuralcodec.bench.runner import BenchResults

DEFAULT_BITRATES = "8k,16k,32k,64k"
DEFAULT_CODECS = ",".join(BUILTIN_CODECS)
OUTPUT_FILES = ("results.json", "report.md")


EXTRA_INSTALL = 'pip install -e ".[bench]"'


def missing_extras(visqol: bool = True, mp3: bool = True) -> list[str]:
    """Distributions of the ``bench`` extra this run needs and cannot import (checked without
    importing them, so the check costs nothing): matplotlib for the plots, visqol-python for
    ViSQOL, lameenc for the mp3 codec."""
    import importlib.util

    needed = [("matplotlib", "matplotlib")]
    if visqol:
        needed.append(("visqol", "visqol-python"))
    if mp3:
        needed.append(("lameenc", "lameenc"))
    out = []
    for module, dist in needed:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(dist)
    return out


def require_extras(visqol: bool = True, mp3: bool = True) -> None:
    """Stop before any work, in one line naming the extra, when the bench's packages are missing
    (a plain ``pip install -e .`` does not install them)."""
    from neuralcodec.errors import MuzipError

    missing = missing_extras(visqol, mp3)
    if missing:
        raise MuzipError(f"muzip bench needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                         f"not installed: {EXTRA_INSTALL}")


def _bitrates(ctx: click.Context, param: click.Parameter, value: str) -> list[float]:
    try:
        return parse_kbps_list(value)
    except BenchError as exc:
        raise click.BadParameter(str(exc)) from exc


def _codec_names(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    try:
        return parse_name_list(value)
    except BenchError as exc:
        raise click.BadParameter(str(exc)) from exc


class RichProgress:
    """Adapts the runner's progress events to one rich progress bar per phase."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._tasks: dict[str, Any] = {}

    def begin(self, task: str, total: int, description: str) -> None:
        title = "coding" if task == "coding" else "ViSQOL"
        self._tasks[task] = self._progress.add_task(f"{title}: {description}", total=max(total, 0))

    def advance(self, task: str, description: str) -> None:
        title = "coding" if task == "coding" else "ViSQOL"
        short = description if len(description) <= 36 else description[:35] + "…"
        self._progress.update(self._tasks[task], advance=1, description=f"{title}: {short}")


@click.command(name="bench")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--bitrates", "-b", default=DEFAULT_BITRATES, show_default=True, callback=_bitrates,
              help="Target bitrates, comma-separated (16k, 16kbps or 16000).")
@click.option("--codecs", "-c", "codec_names", default=DEFAULT_CODECS, show_default=True,
              callback=_codec_names, help=f"Codecs to compare: {', '.join(BUILTIN_CODECS)} and any --external name.")
@click.option("--external", "externals", nargs=3, multiple=True, metavar="NAME[.EXT] ENCODE DECODE",
              help="Add a command-line codec. ENCODE/DECODE are commands with {in} {out} {kbps} {bps} "
                   "{sr} {channels} placeholders, e.g. --external vorbis.ogg "
                   "'oggenc -b {kbps} -o {out} {in}' 'oggdec -o {out} {in}'.")
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("muzip-bench"), show_default=True, help="Folder for results.json, report.md and plots.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel ViSQOL processes (coding itself always runs one at a time, for clean timings).")
@click.option("--seconds", "-s", type=click.FloatRange(min=0.25), default=None,
              help="Use only the first S seconds of each input.")
@click.option("--visqol/--no-visqol", default=True, show_default=True,
              help="Score ViSQOL v3 (slow: pure Python; install numba for ~8x).")
@click.option("--opus-backend", type=click.Choice(["auto", "opusenc", "libsndfile"]), default="auto",
              show_default=True, help="Opus via opus-tools or libsndfile's writer.")
@click.option("--max-delay", type=click.FloatRange(min=0.0), default=0.25, show_default=True,
              help="Search codec delays up to this many seconds either way.")
@click.option("--keep-audio", is_flag=True, help="Also keep encoded files and aligned decoded WAVs in OUT/audio/.")
@click.option("--force", "-f", is_flag=True, help="Overwrite an existing report in OUT.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or table; errors only.")
def bench_command(
    inputs: tuple[Path, ...],
    bitrates: list[float],
    codec_names: list[str],
    externals: tuple[tuple[str, str, str], ...],
    out_dir: Path,
    jobs: int,
    seconds: float | None,
    visqol: bool,
    opus_backend: str,
    max_delay: float,
    keep_audio: bool,
    force: bool,
    quiet: bool,
) -> None:
    """Compare muzip with MP3, Opus and resampling on INPUTS (audio files or folders).

    Every clip is encoded and decoded by every codec at every bitrate; the real bitrate is
    measured from the file size. Writes results.json, summary.csv, report.md and PNG
    rate-quality plots to --out and prints a summary table. A codec that fails is reported and the rest goes on.
    Exit status: 0 when at least one run succeeded, 1 when none did, 2 for bad usage.
    """
    require_extras(visqol=visqol, mp3="mp3" in codec_names)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from neuralcodec.bench.report import write_report
    from neuralcodec.bench.runner import BenchConfig, run_bench

    err = Console(stderr=True)
    try:
        specs = resolve_codecs(
            codec_names, [parse_external(*e) for e in externals], opus_backend=opus_backend
        )
        taken = [out_dir / name for name in OUTPUT_FILES if (out_dir / name).exists()]
        if taken and not force:
            raise BenchError(f"{taken[0]} exists; use --force to overwrite or choose another --out")
        config = BenchConfig(
            inputs=list(inputs), bitrates=bitrates, codecs=specs, out_dir=out_dir, jobs=jobs,
            seconds=seconds, visqol=visqol, keep_audio=keep_audio, max_delay_s=max_delay,
        )
        config.validate()
    except BenchError as exc:
        raise click.UsageError(str(exc)) from exc

    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err, disable=quiet, transient=False) as progress:
            results = run_bench(
                config, RichProgress(progress), log=None if quiet else lambda m: progress.console.print(m)
            )
    except BenchError as exc:
        raise click.UsageError(str(exc)) from exc
    data = write_report(results, out_dir)
    if not quiet:
        print_outcome(results, data, out_dir, err)
    if not any(r.ok for r in results.runs):
        raise click.ClickException(f"every codec run failed; see {out_dir / 'report.md'}")


def print_outcome(results: BenchResults, data: dict[str, Any], out_dir: Path, err: Console) -> None:
    """The summary table on stdout; codecs that could not run, failures and paths on stderr."""
    from rich.console import Console

    from neuralcodec.bench.report import summary_table

    Console().print(summary_table(data["summary"], visqol=bool(data["config"]["visqol"])))
    for status in results.codecs:
        if status.error and status.startup_s is None:
            err.print(f"[yellow]{status.name}: not run: {status.error}[/yellow]")
    failed = sum(1 for r in results.runs if not r.ok)
    if failed:
        err.print(f"[yellow]{failed} of {len(results.runs)} runs failed; see {out_dir / 'report.md'}[/yellow]")
    err.print(
        f"wrote {out_dir / 'results.json'}, report.md, summary.csv and plots "
        f"in {results.elapsed_s:.1f} s"
    )

"""`muzip` command line: parse options, call neuralcodec.api, render progress with rich.

Exit status: 0 success, 1 a problem with input/output/model (one-line message), 2 usage error.

Start-up is kept short: nothing heavy is imported at module level. torch comes in only inside the
commands that run a model, and `bench`, `data` and `train` are imported only when invoked
(:class:`LazyGroup`), so `muzip --help` and `muzip info` never pay for them.
"""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from .errors import MuzipError
from .launcher import FINITE

if TYPE_CHECKING:
    from .batch import JobResult, Summary

err = Console(stderr=True, highlight=False)


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich bar on stderr; silent when quiet or when stderr is not a terminal."""
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(label, total=1)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, 1))

        yield update


class LazyGroup(click.Group):
    """A click group whose heavier subcommands are imported only when they run.

    ``lazy`` maps a name to (module, attribute, one-line help); the help line is what `--help`
    lists, so listing commands imports none of them (tests check it matches the command's own).
    """

    lazy: dict[str, tuple[str, str, str]] = {
        "bench": ("neuralcodec.bench.command", "bench_command",
                  "Compare muzip with MP3, Opus and resampling on INPUTS (audio files or folders)."),
        "data": ("neuralcodec.data.command", "data_command",
                 "Find music in installed Debian packages, split it by track, write OUT_DIR/manifest.json."),
        "train": ("neuralcodec.train", "train_command",
                  "Train or fine-tune a model on DATA (a corpus manifest.json or folder from `muzip data`)."),
        "embed": ("neuralcodec.search.command", "embed_command",
                  "Embed .mzp and audio files (folders: recursively) into a Parquet table of unit vectors."),
        "similar": ("neuralcodec.search.command", "similar_command",
                    "List the files (or segments) of an index most similar to QUERY, by cosine of their vectors."),
        "classify": ("neuralcodec.search.command", "classify_group",
                     "Train a classifier on labelled files, or label new files with one."),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands or name not in self.lazy:
            return super().get_command(ctx, name)
        module, attr, _ = self.lazy[name]
        cmd = getattr(importlib.import_module(module), attr)
        self.add_command(cmd, name)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                rows.append((name, click.utils.make_default_short_help(self.lazy[name][2], limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="muzip")
def cli() -> None:
    """muzip: compress music with pretrained neural codecs (.mzp files).

    Each coding command takes one file (as lame/opusenc do) or many files and folders with
    -o OUTDIR (as flac does); `muzip COMMAND --help` shows its options.
    """


# -- shared pieces -------------------------------------------------------------------------------------


def _threads_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--threads", type=click.IntRange(min=1), default=None,
                        help="Torch threads per file being coded (default: the free cores, split between --jobs).")(f)


def _jobs_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                        help="Files coded in parallel (worker processes; each loads the model once).")(f)


def _is_batch(paths: tuple[str, ...], dst: str | None) -> bool:
    """Many files (or a folder, or -o naming an existing folder): the batch path. One file: as always."""
    if len(paths) > 1 or (dst is not None and dst != "-" and (Path(dst).is_dir() or dst.endswith(("/", "\\")))):
        return True
    return paths[0] != "-" and Path(paths[0]).is_dir()


def _check_batch_paths(paths: tuple[str, ...], dst: str | None) -> Path | None:
    if "-" in paths:
        raise click.UsageError("'-' (stdin) can only be used alone, not among several inputs")
    if dst == "-":
        raise click.UsageError("-o - (stdout) takes a single input; with several, -o names an output folder")
    if dst is None:
        return None
    out = Path(dst)
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"-o {dst}: with several inputs or a folder, -o must name a folder")
    folders = [p for p in paths if Path(p).is_dir()]
    if folders and not out.exists() and out.suffix.lower() in _OUTPUT_SUFFIXES:
        raise MuzipError(f"{folders[0]}: is a directory; to code the files in it, give an output folder "
                         f"(-o OUTDIR), not a file name")
    return out


_OUTPUT_SUFFIXES = {".mzp", ".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff"}


def _apply_threads(threads: int | None) -> int:
    from .threads import apply_threads, pick_threads

    n = pick_threads(1, threads)
    apply_threads(n)
    return n


def _print_warnings(caught: list[warnings.WarningMessage], quiet: bool, prefix: str = "") -> None:
    for w in caught:
        if not quiet and issubclass(w.category, UserWarning) and w.category.__module__.startswith("neuralcodec"):
            click.echo(f"muzip: warning: {prefix}{w.message}", err=True)


def _scale_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--engine, --address, --manifest: where a batch runs and where its results are recorded."""
    f = click.option("--manifest", "manifest", type=click.Path(dir_okay=False), default=None,
                     help="Append a JSON line per finished file (path, output, sha256, seconds, kbit/s, status) "
                          "and skip files it records as done; a failed file is retried once. Default with "
                          "--engine ray: OUTDIR/muzip-results.jsonl.")(f)
    f = click.option("--address", default=None, metavar="ADDR",
                     help="With --engine ray: join this Ray cluster (auto, HOST:6379 or ray://HOST:10001) "
                          "instead of starting Ray on this machine.")(f)
    return click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                        help="Where a batch is coded: local processes, or Ray actors (pip install 'muzip[ray]'; "
                             "--jobs then counts actors, default one per CPU of the cluster).")(f)


def _check_scale(batch: bool, engine: str, address: str | None, manifest: str | None) -> None:
    if address is not None and engine != "ray":
        raise click.UsageError("--address names a Ray cluster: use it with --engine ray")
    if not batch and (engine != "local" or manifest is not None):
        raise click.UsageError("--engine and --manifest apply to batch runs: several inputs or a folder, with "
                               "-o OUTDIR")


def _run_batch(kind: str, paths: tuple[str, ...], dst: str | None, suffix: str, options: dict[str, Any],
               force: bool, jobs: int, threads: int | None, quiet: bool, as_json: bool, engine: str = "local",
               address: str | None = None, manifest: str | None = None) -> None:
    """Plan, run with one progress display, print the summary (and --json); exit 1 on any failure."""
    from .batch import AUDIO_EXTS, MZP_EXTS, plan, run
    from .threads import pick_threads

    out = _check_batch_paths(paths, dst)
    workers: int | None = jobs
    if engine == "ray":
        from .engines.ray_engine import import_ray

        import_ray()  # missing Ray: one line before anything is written
        ctx = click.get_current_context()
        if ctx.get_parameter_source("jobs") != click.core.ParameterSource.COMMANDLINE:
            workers = None  # one actor per `threads` CPUs of the cluster
        n_threads = threads or 1
        if manifest is None:
            from .manifest import DEFAULT_NAME

            manifest = str((out or Path(".")) / DEFAULT_NAME)
    else:
        n_threads = pick_threads(jobs, threads)
    if manifest is not None:
        from .manifest import Manifest

        Manifest(manifest)  # an unreadable or foreign file: refused before any work
    if out is not None and engine == "local":  # Ray: workers make the folders, once Ray is reached
        out.mkdir(parents=True, exist_ok=True)
    todo = plan(paths, out, suffix, AUDIO_EXTS if kind == "encode" else MZP_EXTS)
    with _BatchDisplay(kind, len(todo), quiet) as display:
        summary = run(kind, todo, options, force=force, workers=workers, threads=n_threads,
                      on_result=display.update, engine=engine, address=address, manifest=manifest)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=1))
    _print_summary(kind, summary, quiet)
    if summary.failed:
        sys.exit(1)


class _BatchDisplay:
    """One progress line for a whole batch: files done / total, realtime factor, kbit/s."""

    def __init__(self, kind: str, total: int, quiet: bool) -> None:
        self.kind, self.total, self.quiet = kind, total, quiet
        self.bar: Any = None
        self.audio = 0.0
        self.bits = 0.0
        self.t0 = 0.0

    def __enter__(self) -> _BatchDisplay:
        import time

        self.t0 = time.perf_counter()
        if not self.quiet and err.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn(f"[bold]{self.kind}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.kind, total=self.total, rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, r: JobResult, finished: int, total: int) -> None:
        import time

        if r.status == "done":
            self.audio += r.duration
            self.bits += r.kbps * r.duration
        if r.status == "failed" and self.bar is not None:  # the summary names it again at the end
            self.bar.console.print(f"FAILED {r.label}: {r.message}", markup=False, soft_wrap=True)
        for w in r.extra.get("warnings", []):
            if not self.quiet:
                (self.bar.console if self.bar else err).print(f"muzip: warning: {r.label}: {w}", markup=False,
                                                              soft_wrap=True)
        if self.bar is not None:
            wall = max(time.perf_counter() - self.t0, 1e-9)
            rate = f"{self.audio / wall:.1f}x realtime  {self.bits / max(self.audio, 1e-9):.1f} kbit/s" \
                if self.audio else ""
            self.bar.update(self.task, completed=finished, rate=rate)


def _print_summary(kind: str, s: Summary, quiet: bool) -> None:
    verb = "encoded" if kind == "encode" else "decoded"
    if not quiet:
        line = (f"{len(s.results)} files: {s.count('done')} {verb}, {s.count('skipped')} up to date, "
                f"{len(s.failed)} failed")
        if s.count("done"):
            unit = "Ray actor" if s.engine == "ray" else "job"
            line += (f"; {s.audio_seconds:.1f} s of audio in {s.wall_seconds:.1f} s ({s.realtime:.1f}x realtime, "
                     f"{s.jobs} {unit}{'s' if s.jobs > 1 else ''} x {s.threads} thread{'s' if s.threads > 1 else ''}), "
                     f"{s.kbps:.2f} kbit/s")
        retried = sum(1 for r in s.results if r.attempts > 1)
        if retried:
            line += f"; {retried} retried"
        if s.manifest:
            line += f"; results in {s.manifest}"
        err.print(line, markup=False, soft_wrap=True)
    if s.failed:
        click.echo(f"muzip: {len(s.failed)} of {len(s.results)} files failed:", err=True)
        for r in s.failed:
            click.echo(f"  {r.label}: {r.message}", err=True)


# -- encode ------------------------------------------------------------------------------------------


def _tags(tag: tuple[str, ...], title: str | None, artist: str | None, album: str | None) -> dict[str, str]:
    from .tags import parse_assignments

    out = parse_assignments(tag)
    for key, value in (("title", title), ("artist", artist), ("album", album)):
        if value is not None:
            out[key] = value
    return out


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "dst", default=None,
              help="Output .mzp (default: input name with .mzp; '-' = stdout). With several inputs or a "
                   "folder: the output folder (the input tree is mirrored; default: beside each input).")
@click.option("-b", "--bitrate", default=None, help="Target bitrate: 16k, 16kbps or 16000.  [default: 16k]")
@click.option("-V", "--quality", type=click.FloatRange(0, 10), default=None,
              help="Constant quality 0 (smallest) .. 10 (best) instead of a bitrate; the bitrate follows the music.")
@click.option("-m", "--model", default="mdct", show_default=True, help="Model family (mdct, freq, time) or a model id.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--coder", type=click.Choice(["laplace-range-v1", "zstd-v1", "mdct-tables-v1", "mdct-laplace-v1"]),
              default=None, help="Entropy coder (default: the model's own). Autoencoders: laplace-range-v1 or the "
              "zstd-v1 baseline; mdct: mdct-tables-v1 or mdct-laplace-v1 (its analytic tables, for ablations).")
@click.option("-T", "--tag", "tag", multiple=True, metavar="KEY=VALUE",
              help="Set a tag (repeatable); an empty VALUE removes it. Input tags are kept by default.")
@click.option("--title", default=None, help="Shorthand for --tag title=...")
@click.option("--artist", default=None, help="Shorthand for --tag artist=...")
@click.option("--album", default=None, help="Shorthand for --tag album=...")
@click.option("--discard-tags", is_flag=True, help="Do not copy the input's tags (--tag still applies).")
@click.option("--verify", is_flag=True, help="Read the written file back, check it and decode it before keeping it.")
@_jobs_option
@_threads_option
@_scale_options
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output (in a batch: also up-to-date ones).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (failures are still named).")
def encode(paths: tuple[str, ...], dst: str | None, bitrate: str | None, quality: float | None, model: str,
           device: str, coder: str | None, tag: tuple[str, ...], title: str | None, artist: str | None,
           album: str | None, discard_tags: bool, verify: bool, jobs: int, threads: int | None, engine: str,
           address: str | None, manifest: str | None, as_json: bool, force: bool, quiet: bool) -> None:
    """Encode audio (WAV, FLAC, OGG, MP3; more through ffmpeg; '-' = stdin) to .mzp.

    PATHS: one file, or several files and folders (searched recursively) with -o OUTDIR.
    """
    if quality is not None and bitrate is not None:
        raise click.UsageError("-V/--quality and -b/--bitrate exclude each other: choose constant quality or a bitrate")
    options: dict[str, Any] = {"bitrate": bitrate or "16k", "model": model, "device": device, "coder": coder or "laplace-range-v1",
                               "tags": _tags(tag, title, artist, album), "keep_tags": not discard_tags,
                               "quality": quality, "verify": verify}
    batch = _is_batch(paths, dst)
    _check_scale(batch, engine, address, manifest)
    if batch:
        _run_batch("encode", paths, dst, ".mzp", options, force, jobs, threads, quiet, as_json, engine, address,
                   manifest)
        return
    if as_json and dst == "-":
        raise click.UsageError("--json prints on stdout, which -o - already uses for the .mzp")
    from . import api

    _apply_threads(threads)
    with warnings.catch_warnings(record=True) as caught, _progress("encode", quiet) as prog:
        warnings.simplefilter("always")
        stats = api.encode_file(paths[0], dst, force=force, progress=prog, **options)
    _print_warnings(caught, quiet)
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps(dict(asdict(stats), realtime=stats.realtime), indent=1))
    if not quiet:
        how = f"quality {quality:g} (step index {stats.step_index})  " if quality is not None else ""
        err.print(f"{stats.duration:.2f} s  {how}{stats.kbps:.2f} kbit/s  {stats.bytes} bytes  "
                  f"{stats.realtime:.1f}x realtime  model {stats.model_id} (loaded in {stats.load_seconds:.2f} s)"
                  + ("  verified" if verify else ""), markup=False, soft_wrap=True)


# -- decode ------------------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "dst", default=None,
              help="Output audio (default: input name with .wav; '-' = stdout WAV). With several inputs or a "
                   "folder: the output folder (mirrored; default: beside each input).")
@click.option("--format", "fmt", type=click.Choice(["wav", "flac", "ogg"]), default=None,
              help="Output format when -o does not name a file (default: wav).")
@click.option("--start", type=FINITE, default=0.0, show_default=True, help="Start time in seconds (seeks).")
@click.option("--duration", type=FINITE, default=None, help="Seconds to decode (default: to the end).")
@click.option("--rate", type=click.IntRange(8000, 192000), default=None,
              help="Output sample rate in Hz (default: the original rate).")
@click.option("--channels", type=click.IntRange(1, 2), default=None,
              help="1 (downmix to mono) or 2 (default: the original channel count).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--float", "as_float", is_flag=True,
              help="Write 32-bit float samples, also on stdout (default: 16-bit with TPDF dither).")
@click.option("--no-dither", is_flag=True, help="Round to 16 bits without dither.")
@click.option("--discard-tags", is_flag=True, help="Do not write the file's tags into the output.")
@_jobs_option
@_threads_option
@_scale_options
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output (in a batch: also up-to-date ones).")
@click.option("-q", "--quiet", is_flag=True, help="No progress, summary or warnings (failures are still named).")
def decode(paths: tuple[str, ...], dst: str | None, fmt: str | None, start: float, duration: float | None,
           rate: int | None, channels: int | None, device: str, as_float: bool, no_dither: bool,
           discard_tags: bool, jobs: int, threads: int | None, engine: str, address: str | None,
           manifest: str | None, as_json: bool, force: bool, quiet: bool) -> None:
    """Decode .mzp files ('-' = stdin) to audio at their original rate and channel count.

    PATHS: one file, or several files and folders (searched recursively) with -o OUTDIR.
    """
    options: dict[str, Any] = {"device": device, "start": start, "duration": duration,
                               "subtype": "FLOAT" if as_float else "PCM_16", "rate": rate, "channels": channels,
                               "dither": not no_dither, "keep_tags": not discard_tags}
    suffix = f".{fmt or 'wav'}"
    batch = _is_batch(paths, dst)
    _check_scale(batch, engine, address, manifest)
    if batch:
        _run_batch("decode", paths, dst, suffix, options, force, jobs, threads, quiet, as_json, engine, address,
                   manifest)
        return
    if as_json and (dst == "-" or (dst is None and paths[0] == "-")):
        raise click.UsageError("--json prints on stdout, which the decoded WAV already uses")
    if dst is None and fmt is not None and paths[0] != "-":
        dst = str(Path(paths[0]).with_suffix(suffix))
    from . import api

    _apply_threads(threads)
    with warnings.catch_warnings(record=True) as caught, _progress("decode", quiet) as prog:
        warnings.simplefilter("always")
        res = api.decode_file(paths[0], dst, force=force, progress=prog, **options)
    _print_warnings(caught, quiet)
    if as_json:
        click.echo(json.dumps(res, indent=1, default=float))
    if not quiet:
        err.print(f"{res['duration']:.2f} s  {res['sample_rate']} Hz  {res['channels']} ch  "
                  f"{res['duration'] / max(res['seconds'], 1e-9):.1f}x realtime", markup=False, soft_wrap=True)


# -- test --------------------------------------------------------------------------------------------


@cli.command("test")
@click.argument("paths", nargs=-1, required=True)
@click.option("--device", default="cpu", show_default=True, help="auto, cpu or cuda.")
@click.option("--no-decode", is_flag=True, help="Check header, CRCs and index only (fast, no model).")
@_threads_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of lines.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the files that failed.")
def test_command(paths: tuple[str, ...], device: str, no_decode: bool, threads: int | None, as_json: bool,
                 quiet: bool) -> None:
    """Check .mzp files (like flac -t): every CRC, the index, and a full decode.

    Prints "FILE: OK" or "FILE: FAIL packet N: why" for each; exit status 1 if any failed.
    Folders are searched recursively for .mzp files.
    """
    from dataclasses import asdict

    from .batch import MZP_EXTS, plan
    from .verify import check_file

    files = plan(paths, None, ".mzp", MZP_EXTS, outputs=False)
    if not no_decode:
        _apply_threads(threads)
    results = []
    for job in files:
        if job.error:
            from .verify import CheckResult

            res = CheckResult(job.label, False, None, job.error)
        else:
            res = check_file(job.src, job.label, device=device, decode=not no_decode)
        results.append(res)
        if not as_json and (not quiet or not res.ok):
            click.echo(res.line())
    bad = [r for r in results if not r.ok]
    if as_json:
        click.echo(json.dumps({"files": [asdict(r) for r in results], "ok": len(results) - len(bad),
                               "failed": len(bad)}, indent=1))
    elif not quiet and len(results) > 1:
        err.print(f"{len(results) - len(bad)} of {len(results)} files OK", markup=False)
    if bad:
        sys.exit(1)


# -- info --------------------------------------------------------------------------------------------


def _safe(text: object) -> str:
    """A value from a file made safe for the terminal: control characters escaped."""
    s = str(text)
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in s)


@cli.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--parts", is_flag=True, help="Also split the payload into its parts (envelope, coefficients, ... or "
              "scale indices and symbols; decodes the integers).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(src: Path, parts: bool, as_json: bool) -> None:
    """Show an .mzp file's header, tags, model, real bitrate and where its bits go."""
    from .fileinfo import info as file_info
    from .tags import describe

    d = file_info(src, parts=parts)
    if as_json:
        click.echo(json.dumps({k: v for k, v in d.items() if k != "packet_sizes"}, indent=1, default=float))
        return
    h = d["header"]
    size = d["file_bytes"]

    def part(n: int) -> str:
        return f"{n} bytes ({100 * n / size:.1f}%, {n * 8 / d['duration'] / 1000:.2f} kbit/s)"

    m = h["model"]
    lines = [
        f"file          {_safe(src)}  ({size} bytes)",
        f"duration      {d['duration']:.3f} s  ({h['samples']} samples at {h['sample_rate']} Hz, {h['channels']} ch)",
        f"bitrate       {d['kbps']:.2f} kbit/s (file size x 8 / duration, everything included)",
        f"model         {_safe(m['id'])} ({_safe(m['family'])}, sha256 {_safe(m['sha256'])}...)"
        + (f" at {h['model_sample_rate']} Hz" if "model_sample_rate" in h else ""),
    ]
    if "latent_dim" in h:
        lines += [
            f"coding        {h['coding']}, {h['latent_dim']} latent dims x {h['frames']} frames, hop {h['hop']}",
            f"quantizer     step index {h['step_index']} (step 2^({h['step_index']}/{h['step_div']})), "
            f"side offset {h['side_step_offset']}",
        ]
    if isinstance(h.get("layer"), dict):  # the transform family (format 2.x)
        lay = h["layer"]
        lines.append(f"transform     MDCT hop {h['hop']} (+ short blocks), envelope step {0.75 * lay['m']:g} dB, "
                     f"step offset D {lay['d']}{' + 1/2' if lay.get('h') else ''} (1/8 octave), "
                     f"tables {_safe(lay['envelope'])}/{_safe(lay['coefficients'])}")
    lines += [f"entropy coder {_safe(h['coder'])}",
              f"packets       {d['packets']} x {h['chunk_frames']} frames"
              + (f" (+{h['context_frames']} context)" if "context_frames" in h else "")]
    for i, t in enumerate(describe(d.get("tags"))):
        lines.append(f"{'tags' if i == 0 else '':<14s}{_safe(t)}")
    lines += [
        f"  header      {part(d['header_bytes'])}",
        f"  payload     {part(d['packet_payload_bytes'])}",
        *[f"    {k:<13s} {part(round(v))}" for k, v in (d["payload_parts"] or {}).items()],
        f"  framing     {part(d['packet_framing_bytes'])}",
        f"  index       {part(d['index_bytes'])}",
    ]
    click.echo("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """Entry point (the console script is :func:`neuralcodec.launcher.main`, which this is): signals,
    exit statuses and one-line errors are handled there, before the heavy imports."""
    from .launcher import main as launch

    launch(argv)

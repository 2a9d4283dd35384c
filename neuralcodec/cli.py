"""`muzip` command line: parse options, call neuralcodec.api, render progress with rich.

Exit status: 0 success, 1 a problem with input/output/model (one-line message), 2 usage error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from . import api
from .launcher import FINITE

err = Console(stderr=True, highlight=False)


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich bar on stderr; silent when quiet or when stderr is not a terminal."""
    if quiet or not err.is_terminal:
        yield None
        return
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(label, total=1)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, 1))

        yield update


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="muzip")
def cli() -> None:
    """muzip: compress music with pretrained neural autoencoders (.mzp files)."""


@cli.command()
@click.argument("src")
@click.option("-o", "--output", "dst", default=None, help="Output .mzp (default: input name with .mzp; '-' = stdout).")
@click.option("-b", "--bitrate", default="16k", show_default=True, help="Target bitrate: 16k, 16kbps or 16000.")
@click.option("-m", "--model", default="freq", show_default=True, help="Model family (freq, time) or a model id.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--coder", type=click.Choice(["laplace-range-v1", "zstd-v1"]), default="laplace-range-v1",
              show_default=True, help="Entropy coder.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary.")
def encode(src: str, dst: str | None, bitrate: str, model: str, device: str, coder: str, force: bool,
           quiet: bool) -> None:
    """Encode an audio file (WAV, FLAC, OGG, MP3; '-' = stdin) to .mzp."""
    with _progress("encode", quiet) as prog:
        stats = api.encode_file(src, dst, bitrate=bitrate, model=model, device=device, force=force,
                                coder=coder, progress=prog)
    if not quiet:
        err.print(f"{stats.duration:.2f} s  {stats.kbps:.2f} kbit/s  {stats.bytes} bytes  "
                  f"{stats.realtime:.1f}x realtime  model {stats.model_id} (loaded in {stats.load_seconds:.2f} s)")


@cli.command()
@click.argument("src")
@click.option("-o", "--output", "dst", default=None, help="Output audio (default: input name with .wav; '-' = stdout WAV).")
@click.option("--start", type=FINITE, default=0.0, show_default=True, help="Start time in seconds (seeks).")
@click.option("--duration", type=FINITE, default=None, help="Seconds to decode (default: to the end).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--float", "as_float", is_flag=True, help="Write 32-bit float samples (WAV/FLAC default: 16-bit).")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary.")
def decode(src: str, dst: str | None, start: float, duration: float | None, device: str, as_float: bool,
           force: bool, quiet: bool) -> None:
    """Decode an .mzp file ('-' = stdin) to audio at its original rate and channel count."""
    with _progress("decode", quiet) as prog:
        res = api.decode_file(src, dst, device=device, force=force, start=start, duration=duration,
                              subtype="FLOAT" if as_float else "PCM_16", progress=prog)
    if not quiet:
        err.print(f"{res['duration']:.2f} s  {res['sample_rate']} Hz  {res['channels']} ch  "
                  f"{res['duration'] / max(res['seconds'], 1e-9):.1f}x realtime")


@cli.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(src: Path, as_json: bool) -> None:
    """Show an .mzp file's header, model, real bitrate and where its bits go."""
    d = api.info(src)
    if as_json:
        click.echo(json.dumps({k: v for k, v in d.items() if k != "packet_sizes"}, indent=1, default=float))
        return
    h = d["header"]
    size = d["file_bytes"]

    def part(n: int) -> str:
        return f"{n} bytes ({100 * n / size:.1f}%, {n * 8 / d['duration'] / 1000:.2f} kbit/s)"

    lines = [
        f"file          {src}  ({size} bytes)",
        f"duration      {d['duration']:.3f} s  ({h['samples']} samples at {h['sample_rate']} Hz, {h['channels']} ch)",
        f"bitrate       {d['kbps']:.2f} kbit/s (file size x 8 / duration, everything included)",
        f"model         {h['model']['id']} ({h['model']['family']}, sha256 {h['model']['sha256']}...) at {h['model_sample_rate']} Hz",
        f"coding        {h['coding']}, {h['latent_dim']} latent dims x {h['frames']} frames, hop {h['hop']}",
        f"quantizer     step index {h['step_index']} (step 2^({h['step_index']}/{h['step_div']})), side offset {h['side_step_offset']}",
        f"entropy coder {h['coder']}",
        f"packets       {d['packets']} x {h['chunk_frames']} frames (+{h['context_frames']} context)",
        f"  header      {part(d['header_bytes'])}",
        f"  payload     {part(d['packet_payload_bytes'])}",
        *[f"    {k:<13s} {part(round(v))}" for k, v in (d["payload_parts"] or {}).items()],
        f"  framing     {part(d['packet_framing_bytes'])}",
        f"  index       {part(d['index_bytes'])}",
    ]
    click.echo("\n".join(lines))


def _register_optional() -> None:
    """Subcommands that live beside the codec (bench, data, train)."""
    try:
        from .bench.command import bench_command

        cli.add_command(bench_command, "bench")
    except ImportError:
        pass
    from .data import data_command
    from .train import train_command

    cli.add_command(data_command, "data")
    cli.add_command(train_command, "train")


_register_optional()


def main(argv: list[str] | None = None) -> None:
    """Entry point (the console script is :func:`neuralcodec.launcher.main`, which this is): signals,
    exit statuses and one-line errors are handled there, before the heavy imports."""
    from .launcher import main as launch

    launch(argv)

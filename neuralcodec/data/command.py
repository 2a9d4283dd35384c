"""``muzip data``: build the corpus manifest (and the decoded cache) the trainer reads.

Imports no torch, so registering this command keeps the CLI's start-up fast.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from .corpus import DEFAULT_PACKAGES, MIN_TRACK_SECONDS, DataError, build_corpus, load_tracks


@click.command("data")
@click.argument(
    "out_dir", required=False, default="data/corpus", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--packages", "-p", multiple=True, metavar="PKG[,PKG...]",
    help="Debian packages to scan (repeat or comma-separate). Default: the six music packages "
    "(none when --fma is given).",
)
@click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.15,
              show_default=True, help="Share of each package's tracks held out for validation.")
@click.option("--seed", type=int, default=0, show_default=True, help="Changes which tracks are held out.")
@click.option("--min-seconds", type=click.FloatRange(min=0.0), default=MIN_TRACK_SECONDS,
              show_default=True, help="Shorter files are sound effects, not music.")
@click.option("--fma", "fma_root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Also read an FMA folder (fma_small/ + fma_metadata/), keeping FMA's split.")
@click.option("--cache/--no-cache", default=True, show_default=True,
              help="Decode every track once to int16 .npy under OUT_DIR/cache (635 MB per hour).")
@click.option("--sample-rate", type=click.IntRange(8000, 192000), default=44100, show_default=True,
              help="Rate of the decoded cache; must match the trainer's.")
@click.option("-f", "--force", is_flag=True, help="Replace a manifest whose tracks or split differ.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def data_command(
    out_dir: Path,
    packages: tuple[str, ...],
    val_fraction: float,
    seed: int,
    min_seconds: float,
    fma_root: Path | None,
    cache: bool,
    sample_rate: int,
    force: bool,
    quiet: bool,
) -> None:
    """Find music in installed Debian packages, split it by track, write OUT_DIR/manifest.json.

    Audio stays where the packages installed it; the manifest records path, package, duration,
    sample rate, channels and split (train/validation) for every track.
    """
    console = Console(stderr=True, quiet=quiet)
    names = [p.strip() for item in packages for p in item.split(",") if p.strip()]
    if not packages and fma_root is None:
        names = list(DEFAULT_PACKAGES)
    try:
        extra = []
        if fma_root is not None:
            from .fma import fma_tracks

            extra = fma_tracks(fma_root)
        manifest = build_corpus(
            out_dir, names, val_fraction, seed, min_seconds=min_seconds, extra_tracks=extra,
            force=force, console=console,
        )
        if cache:
            from .cache import ensure_cached

            tracks = load_tracks(manifest)
            total = 0
            with Progress(
                TextColumn("decoding to cache"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(), console=console, transient=True,
            ) as bar:
                task = bar.add_task("cache", total=len(tracks))
                for track in tracks:
                    total += ensure_cached(track, out_dir / "cache", sample_rate).stat().st_size
                    bar.advance(task)
            console.print(f"cache: {out_dir / 'cache'} ({total / 1e9:.2f} GB, {sample_rate} Hz int16 stereo)")
        console.print(f"manifest: {manifest}")
    except DataError as exc:
        raise click.ClickException(str(exc)) from None

#!/usr/bin/env python3
"""Cut the fixed held-out benchmark clips: 10 s, 44.1 kHz, stereo, 16-bit WAV, validation tracks only.

    python benchmarks/make_validation_clips.py data/val_clips --n 16 --seconds 10

Deterministic: the same manifest always gives the same clips (the most consistently active window
of each track; packages visited round-robin, at most --per-track clips per track). Writes
OUT_DIR/clips.json recording each clip's source track and offset.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from neuralcodec.data import DataError, make_validation_clips  # noqa: E402


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--manifest", type=click.Path(path_type=Path), default=Path("data/corpus/manifest.json"),
              show_default=True, help="Corpus manifest (made by `muzip data`).")
@click.option("--n", "count", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--seconds", type=click.FloatRange(min=0.5), default=10.0, show_default=True)
@click.option("--per-track", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--sample-rate", type=click.IntRange(8000, 192000), default=44100, show_default=True)
@click.option("-f", "--force", is_flag=True, help="Write into an OUT_DIR that already has WAV files.")
def main(out_dir: Path, manifest: Path, count: int, seconds: float, per_track: int,
         sample_rate: int, force: bool) -> None:
    """Write COUNT validation clips to OUT_DIR and print where each came from."""
    console = Console()
    if out_dir.is_dir() and any(out_dir.glob("*.wav")) and not force:
        raise click.ClickException(f"{out_dir} already holds WAV files; pass --force to replace them")
    if force:
        for old in out_dir.glob("*.wav"):
            old.unlink()
    try:
        records = make_validation_clips(manifest, out_dir, count, seconds, per_track, sample_rate)
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"{len(records)} validation clips in {out_dir} (index: {out_dir / 'clips.json'})")
    for r in records:
        console.print(
            f"{r['file']}  <-  {r['source']} @ {r['start_seconds']:.0f} s"
            + (f" (gain {r['gain']:.3f})" if r["gain"] < 1 else ""),
            soft_wrap=True, highlight=False,
        )
    if len(records) < count:
        console.print(f"[yellow]only {len(records)} of {count} clips: too few validation tracks[/]")
        sys.exit(1)


if __name__ == "__main__":
    main()

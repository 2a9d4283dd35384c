"""Reader for an FMA-style folder (the seed papers' data set), so the same sampler can train on it.

Layout: ``ROOT/fma_small/000/000002.mp3`` (also fma_medium/large/full) and
``ROOT/fma_metadata/tracks.csv``. FMA's tracks.csv has a multi-row header (two rows naming the
column, e.g. ``set`` / ``split``, then usually a third row ``track_id,,,...``); the first column is
the track id. Its official split is kept: ``training`` -> train, ``validation`` -> validation,
``test`` -> test (the sampler and the clip maker read whichever split they are asked for).
"""

from __future__ import annotations

import csv
from pathlib import Path

import soundfile as sf

from .corpus import DataError, Track

FMA_SPLITS: dict[str, str] = {"training": "train", "validation": "validation", "test": "test"}
FMA_SUBSETS: tuple[str, ...] = ("small", "medium", "large", "full")


def _header(rows: list[list[str]]) -> tuple[int, list[tuple[str, ...]]]:
    """Number of header rows and, per column, the tuple of its non-empty header cells."""
    count = 0
    for row in rows:
        if row and row[0].strip().isdigit():
            break
        count += 1
    if count == 0 or count == len(rows):
        raise DataError("tracks.csv has no header or no data rows; is it FMA's fma_metadata/tracks.csv?")
    width = max(len(r) for r in rows[:count])
    names = [
        tuple(r[c].strip().lower() for r in rows[:count] if c < len(r) and r[c].strip())
        for c in range(width)
    ]
    return count, names


def _column(names: list[tuple[str, ...]], top: str, sub: str) -> int | None:
    for index, name in enumerate(names):
        if len(name) >= 2 and name[0] == top and name[1] == sub:
            return index
    return None


def fma_tracks(root: str | Path, subset: str | None = None, min_seconds: float = 1.0) -> list[Track]:
    """Tracks of an FMA folder with FMA's split; files missing or unreadable are skipped.

    ``subset`` picks the audio folder ``fma_<subset>``; by default the smallest one present.
    """
    root = Path(root)
    csv_path = root / "fma_metadata" / "tracks.csv"
    if not csv_path.is_file():
        raise DataError(f"{csv_path} not found; an FMA root holds fma_metadata/ and fma_small/")
    subsets = [subset] if subset else [s for s in FMA_SUBSETS if (root / f"fma_{s}").is_dir()]
    if not subsets or not (root / f"fma_{subsets[0]}").is_dir():
        raise DataError(f"no fma_{subset or 'small'}/ audio folder in {root}")
    audio_dir = root / f"fma_{subsets[0]}"
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    count, names = _header(rows)
    split_col = _column(names, "set", "split")
    if split_col is None:
        raise DataError(f"{csv_path} has no ('set', 'split') column; is it FMA's tracks.csv?")
    tracks: list[Track] = []
    for row in rows[count:]:
        if not row or not row[0].strip().isdigit() or split_col >= len(row):
            continue
        split = FMA_SPLITS.get(row[split_col].strip().lower())
        if split is None:
            continue
        name = f"{int(row[0]):06d}"
        path = audio_dir / name[:3] / f"{name}.mp3"
        if not path.is_file():
            continue
        try:
            info = sf.info(str(path))
        except (RuntimeError, sf.LibsndfileError):
            continue
        if info.samplerate <= 0 or info.frames / info.samplerate < min_seconds:
            continue
        tracks.append(
            Track(
                id=f"fma:{name}",
                path=str(path.absolute()),
                package="fma",
                group=name,
                duration=round(info.frames / info.samplerate, 3),
                sample_rate=int(info.samplerate),
                channels=int(info.channels),
                frames=int(info.frames),
                split=split,
            )
        )
    if not tracks:
        raise DataError(f"no readable FMA tracks listed in {csv_path} were found under {audio_dir}")
    return tracks

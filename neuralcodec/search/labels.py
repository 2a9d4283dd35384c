"""Labels for ``muzip classify train``: from the parent folder's name, or from a CSV file.

Two CSV layouts are read:

- ``path,label`` (a header row naming the two columns; extra columns are ignored). A row matches a
  file by its path (as written, or relative to the CSV's folder), else by file name, else by the
  name without extension (``song.flac`` labels ``song.mzp``); a name or stem that rows with
  different labels share matches nothing.
- The FMA metadata ``tracks.csv``: three header rows (``,album,...,track,...`` /
  ``,comments,...,genre_top,...`` / ``track_id,,...``), then one row per track. The track id names
  the file (``000123.mp3``, ``000123.mzp``: its digits, leading zeros or not) and the label is
  ``track.genre_top``; tracks without a top genre have no label.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import MuzipError


class LabelMap:
    """``label_of(path)``: the label a file has, or None."""

    def __init__(self, source: str = "folder names") -> None:
        self.source = source
        self.by_path: dict[str, str] = {}
        self.by_name: dict[str, str | None] = {}  # None: the name is ambiguous
        self.by_stem: dict[str, str | None] = {}  # None: the stem is ambiguous
        self.by_track: dict[int, str] = {}

    def __len__(self) -> int:
        return max(len(self.by_path), len(self.by_track))

    def label_of(self, path: str | os.PathLike[str]) -> str | None:
        p = Path(path)
        if self.source == "folder names":
            name = p.parent.name
            return name or None
        if self.by_track:
            digits = p.stem
            return self.by_track.get(int(digits)) if digits.isdigit() else None
        for key in (os.path.normpath(str(p)), os.path.normpath(os.path.abspath(p))):
            if key in self.by_path:
                return self.by_path[key]
        if p.name in self.by_name:
            return self.by_name[p.name]
        return self.by_stem.get(p.stem)


def folder_labels() -> LabelMap:
    return LabelMap()


def _rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.reader(f))
    except FileNotFoundError:
        raise MuzipError(f"{path}: no such labels file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MuzipError(f"{path}: cannot read labels CSV ({exc})") from None


def read_labels(csv_path: str | os.PathLike[str]) -> LabelMap:
    """A :class:`LabelMap` from a ``path,label`` CSV or an FMA ``tracks.csv``; anything else is refused."""
    p = Path(csv_path)
    rows = _rows(p)
    if not rows:
        raise MuzipError(f"{p}: the labels CSV is empty")
    if len(rows) >= 3 and rows[2][:1] == ["track_id"] and "genre_top" in rows[1]:
        return _fma(p, rows)
    header = [h.strip().lower() for h in rows[0]]
    if "path" not in header or "label" not in header:
        raise MuzipError(f"{p}: a labels CSV needs a header row with 'path' and 'label' columns "
                         f"(or the FMA tracks.csv layout); got {rows[0][:4]}")
    ip, il = header.index("path"), header.index("label")
    out = LabelMap(f"{p}")
    names: dict[str, str | None] = {}  # None: rows of one name disagree (ambiguous, never matched)
    stems: dict[str, str | None] = {}
    base = p.parent
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) <= max(ip, il):
            raise MuzipError(f"{p}, line {n}: expected columns path,label")
        name, label = row[ip].strip(), row[il].strip()
        if not name or not label:
            continue
        q = Path(name)
        for key in {os.path.normpath(name), os.path.normpath(os.path.abspath(base / q if not q.is_absolute() else q))}:
            out.by_path[key] = label
        names[q.name] = label if names.get(q.name, label) == label else None
        stems[q.stem] = label if stems.get(q.stem, label) == label else None
    out.by_name, out.by_stem = names, stems
    if not out.by_path:
        raise MuzipError(f"{p}: the labels CSV has no labelled rows")
    return out


def _fma(p: Path, rows: list[list[str]]) -> LabelMap:
    top, sub = rows[0], rows[1]
    col = next((i for i, (a, b) in enumerate(zip(top, sub, strict=False)) if a == "track" and b == "genre_top"), None)
    if col is None:
        raise MuzipError(f"{p}: FMA tracks.csv without a track.genre_top column")
    out = LabelMap(f"{p} (FMA track.genre_top)")
    for n, row in enumerate(rows[3:], start=4):
        if not row or not row[0].strip():
            continue
        try:
            track = int(row[0])
        except ValueError:
            raise MuzipError(f"{p}, line {n}: track id {row[0]!r} is not a number") from None
        if col < len(row) and row[col].strip():
            out.by_track[track] = row[col].strip()
    if not out.by_track:
        raise MuzipError(f"{p}: no track in the FMA tracks.csv has a track.genre_top")
    return out

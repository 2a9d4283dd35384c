"""The training corpus: real music found in installed Debian packages, split by track, in a manifest.

There is no internet here, so the music comes from game soundtracks that Debian packages ship
(see ``DEFAULT_PACKAGES``). Files are referenced in place, never copied: the manifest records each
track's absolute path, package, duration, sample rate, channel count and split.

The split is fixed and by *track group*, never by excerpt: within each package, groups are ranked
by ``sha256(seed | package | group)`` and the first ``round(val_fraction * n_groups)`` go to
validation (at least one when a package has two or more groups). A group is a tune's variants
(``cave.ogg`` / ``cave_old.ogg``, ``track3`` / ``track3_enhanced``, ``airship_2`` /
``airship_remix``), so a remix of a validation tune can never leak into training. Because the rank
depends only on the package and the group, adding a package never reshuffles the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import soundfile as sf
from rich.console import Console
from rich.table import Table

from ..errors import MuzipError

DEFAULT_PACKAGES: tuple[str, ...] = (
    "warzone2100-music",
    "wesnoth-1.16-music",
    "singularity-music",
    "supertux-data",
    "extremetuxracer-data",
    "hedgewars-data",
)
AUDIO_SUFFIXES: frozenset[str] = frozenset(
    {".ogg", ".oga", ".opus", ".flac", ".wav", ".mp3", ".aif", ".aiff"}
)
MIN_TRACK_SECONDS = 20.0
SPLITS: tuple[str, ...] = ("train", "validation", "test")
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1

# Trailing name tokens that mark a variant of the same tune rather than a different piece.
_VARIANT_TOKENS = frozenset({"old", "new", "sd", "hd", "remix", "enhanced", "map", "loop", "short"})


class DataError(MuzipError):
    """Bad corpus input (empty manifest, unknown split, unreadable metadata): a one-line message."""


@dataclass(frozen=True)
class Track:
    """One audio file of the corpus, read in place; ``group`` ties variants to one split."""

    id: str
    path: str
    package: str
    group: str
    duration: float
    sample_rate: int
    channels: int
    frames: int
    split: str = "train"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> Track:
        """Parse a manifest entry, naming the missing field instead of raising a KeyError."""
        try:
            track = cls(
                id=str(entry["id"]),
                path=str(entry["path"]),
                package=str(entry["package"]),
                group=str(entry.get("group", entry["id"])),
                duration=float(entry["duration"]),
                sample_rate=int(entry["sample_rate"]),
                channels=int(entry["channels"]),
                frames=int(entry["frames"]),
                split=str(entry["split"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"bad manifest entry {entry.get('id', '?')!r}: {exc!r}") from None
        if track.split not in SPLITS:
            raise DataError(f"track {track.id!r} has unknown split {track.split!r}; use {SPLITS}")
        return track


def group_key(path: str | Path) -> str:
    """Name shared by a tune's variants: lower-case stem minus trailing variant tokens.

    Only separated tokens are stripped (``cave_old`` -> ``cave``, ``airship_2`` -> ``airship``);
    digits glued to a word are kept because ``track4`` and ``track5`` are different pieces.
    """
    tokens = [t for t in re.split(r"[\s_\-.]+", Path(path).stem.lower()) if t]
    while len(tokens) > 1 and (tokens[-1] in _VARIANT_TOKENS or re.fullmatch(r"\d", tokens[-1])):
        tokens.pop()
    return " ".join(tokens) or Path(path).stem.lower()


def split_score(package: str, group: str, seed: int = 0) -> float:
    """Deterministic pseudo-random number in [0, 1) for a group; decides its split rank."""
    digest = hashlib.sha256(f"{seed}|{package}|{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def package_files(package: str) -> list[Path] | None:
    """Files a Debian package installed (``dpkg -L``), or None when it is not installed."""
    try:
        proc = subprocess.run(
            ["dpkg", "-L", package], capture_output=True, text=True, check=False, timeout=60
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return [Path(line) for line in proc.stdout.splitlines() if line.strip()]


def probe_files(
    paths: Iterable[str | Path], package: str, min_seconds: float = MIN_TRACK_SECONDS
) -> list[Track]:
    """Tracks for the readable audio files among ``paths`` that last at least ``min_seconds``.

    Symlinks and byte-identical copies are kept once, so a file shipped twice cannot end up in
    both splits. Split is left at "train"; ``assign_splits`` decides it.
    """
    tracks: list[Track] = []
    seen: set[str] = set()
    for raw in sorted(str(p) for p in paths):
        path = Path(raw)
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        fingerprint = _fingerprint(path)
        if fingerprint in seen:
            continue
        try:
            info = sf.info(str(path))
        except (RuntimeError, sf.LibsndfileError):
            continue
        if info.frames <= 0 or info.samplerate <= 0 or info.frames / info.samplerate < min_seconds:
            continue
        seen.add(fingerprint)
        tracks.append(
            Track(
                id=f"{package}:{path}",
                path=str(path.absolute()),
                package=package,
                group=group_key(path),
                duration=round(info.frames / info.samplerate, 3),
                sample_rate=int(info.samplerate),
                channels=int(info.channels),
                frames=int(info.frames),
            )
        )
    return tracks


def _fingerprint(path: Path) -> str:
    """Cheap identity of a file's bytes: size plus the hash of its first 256 KiB."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 18)
    return f"{path.stat().st_size}:{hashlib.sha1(head).hexdigest()}"


def scan_packages(
    packages: Sequence[str],
    min_seconds: float = MIN_TRACK_SECONDS,
    lister: Callable[[str], list[Path] | None] | None = None,
) -> tuple[list[Track], list[str]]:
    """Music tracks of the installed packages, and the packages that were skipped (not installed).

    ``lister`` maps a package to its files (default ``package_files``, i.e. dpkg).
    """
    lister = lister or package_files
    tracks: list[Track] = []
    skipped: list[str] = []
    for package in dict.fromkeys(packages):
        files = lister(package)
        if files is None:
            skipped.append(package)
            continue
        tracks.extend(probe_files(files, package, min_seconds))
    return tracks, skipped


def assign_splits(tracks: Sequence[Track], val_fraction: float = 0.15, seed: int = 0) -> list[Track]:
    """Give every track its fixed split; see the module docstring for the rule."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    by_package: dict[str, set[str]] = {}
    for track in tracks:
        by_package.setdefault(track.package, set()).add(track.group)
    validation: set[tuple[str, str]] = set()
    for package, groups in by_package.items():
        ranked = sorted(groups, key=lambda g: (split_score(package, g, seed), g))
        n_val = round(val_fraction * len(ranked))
        if val_fraction > 0 and len(ranked) >= 2:
            n_val = min(max(n_val, 1), len(ranked) - 1)
        validation.update((package, g) for g in ranked[:n_val])
    return [
        replace(t, split="validation" if (t.package, t.group) in validation else "train")
        for t in tracks
    ]


def write_manifest(tracks: Sequence[Track], path: str | Path, **meta: Any) -> Path:
    """Write the manifest atomically (temp file + rename); ``meta`` records how it was made."""
    if not tracks:
        raise DataError("refusing to write a manifest with no tracks")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": MANIFEST_VERSION,
        "generator": "neuralcodec.data.build_corpus",
        **meta,
        "tracks": [t.to_dict() for t in sorted(tracks, key=lambda t: t.id)],
    }
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_manifest(manifest: str | Path) -> dict[str, Any]:
    """Load and check a manifest file (a corpus directory is accepted too)."""
    path = Path(manifest)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"no manifest at {path}; build one with `muzip data {path.parent}`")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read manifest {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tracks"), list):
        raise DataError(f"{path} is not a muzip corpus manifest (no 'tracks' list)")
    if int(doc.get("version", 0)) > MANIFEST_VERSION:
        raise DataError(f"{path} has manifest version {doc['version']}; upgrade muzip to read it")
    if not doc["tracks"]:
        raise DataError(f"manifest {path} lists no tracks; rebuild it with `muzip data`")
    doc["path"] = str(path)
    return doc


def load_tracks(
    manifest: str | Path | dict[str, Any] | Sequence[Track], split: str | None = None
) -> list[Track]:
    """Tracks of one split (None: all) from a manifest path, a loaded manifest or a track list."""
    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {SPLITS}")
    if isinstance(manifest, (str, Path)):
        entries: Iterable[Any] = read_manifest(manifest)["tracks"]
    elif isinstance(manifest, dict):
        entries = manifest.get("tracks") or []
    else:
        entries = manifest
    tracks = [e if isinstance(e, Track) else Track.from_dict(e) for e in entries]
    if not tracks:
        raise DataError("the manifest lists no tracks")
    chosen = [t for t in tracks if split is None or t.split == split]
    if not chosen:
        raise DataError(f"the manifest has no {split!r} tracks")
    return chosen


def summary_table(tracks: Sequence[Track], title: str = "corpus") -> Table:
    """Tracks and hours per split and package, as a rich table."""
    splits = [s for s in SPLITS if any(t.split == s for t in tracks)]
    table = Table(title=title)
    table.add_column("package", no_wrap=True)
    for s in splits:
        short = {"validation": "val"}.get(s, s)
        table.add_column(f"{short} tracks", justify="right", no_wrap=True)
        table.add_column(f"{short} h", justify="right", no_wrap=True)

    def row(subset: Sequence[Track]) -> list[str]:
        cells: list[str] = []
        for s in splits:
            part = [t for t in subset if t.split == s]
            cells += [str(len(part)), f"{sum(t.duration for t in part) / 3600:.2f}"]
        return cells

    for package in sorted({t.package for t in tracks}):
        table.add_row(package, *row([t for t in tracks if t.package == package]))
    table.add_row("[b]total[/b]", *row(tracks))
    return table


def build_corpus(
    out_dir: str | Path,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    val_fraction: float = 0.15,
    seed: int = 0,
    *,
    min_seconds: float = MIN_TRACK_SECONDS,
    extra_tracks: Sequence[Track] = (),
    force: bool = False,
    console: Console | None = None,
    lister: Callable[[str], list[Path] | None] | None = None,
) -> Path:
    """Scan the packages, split by track group, write ``out_dir/manifest.json`` and return its path.

    ``extra_tracks`` (e.g. from ``fma_tracks``) keep their own split. An existing manifest with a
    different track list or split is only replaced with ``force``: results measured on the old
    validation split would silently stop being comparable.
    """
    console = console or Console(stderr=True, quiet=True)
    tracks, skipped = scan_packages(packages, min_seconds, lister)
    for package in skipped:
        console.print(
            f"[yellow]warning:[/] package {package} is not installed, skipped; "
            f"install it with: apt-get install -y {package}"
        )
    tracks = assign_splits(tracks, val_fraction, seed) + list(extra_tracks)
    if not tracks:
        wanted = " ".join(packages) or "<packages>"
        raise DataError(f"no music tracks found; install them with: apt-get install -y {wanted}")
    path = Path(out_dir) / MANIFEST_NAME
    if path.exists() and not force:
        try:
            old = {t.id: (t.path, t.split) for t in load_tracks(path)}
        except DataError:
            old = {}
        if old != {t.id: (t.path, t.split) for t in tracks}:
            raise DataError(
                f"{path} exists with a different track list or split; pass --force to replace it"
            )
    write_manifest(
        tracks,
        path,
        packages=list(packages),
        skipped_packages=skipped,
        val_fraction=val_fraction,
        seed=seed,
        min_seconds=min_seconds,
        split_rule="per package, track groups ranked by sha256(seed|package|group); "
        "first round(val_fraction*n) -> validation",
    )
    console.print(summary_table(tracks, title=str(path)))
    return path

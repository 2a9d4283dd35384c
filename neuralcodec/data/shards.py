"""A corpus packed into WebDataset-style shards that training ranks stream, for data past one disk.

    python -m neuralcodec.data.shards data/corpus/manifest.json data/shards --shard-mb 256
    torchrun --nproc-per-node 8 -m neuralcodec.train data/shards ...

A shard is a plain tar file, ``{split}-{n:06d}.tar``. Each track is two members with one key (the
WebDataset convention, so its tools read them too): ``KEY.flac``, the track decoded, resampled to
44.1 kHz stereo and stored as 16-bit FLAC (peak-normalised like the decoded cache,
:mod:`neuralcodec.data.cache`, when a lossy source overshoots full scale), and ``KEY.json``, the
manifest's track fields plus ``scale`` (multiply by it to undo the normalisation) and ``frames``.
Tracks are spread over the shards in an order fixed by a hash of their id, so a shard mixes
packages. ``shards.json`` lists each shard with its split, tracks, seconds, bytes and sha256.

:class:`ShardSource` is what a training rank draws from: rank ``r`` of ``W`` reads shards
``r, r + W, ...`` of its split (so no two ranks read the same track), front to back as a stream,
each epoch in an order drawn from the seed. It holds a window of ``buffer_tracks`` decoded tracks;
each window serves ``buffer_tracks x excerpts_per_track`` excerpts, each from a track and start
drawn with the excerpt's own id. The window an excerpt comes from is a function of its id, so a
resumed run reads forward to the window it stopped in and draws the same excerpts.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile as sf

from .cache import decode_stereo, to_int16
from .corpus import DataError, Track, load_tracks

INDEX_NAME = "shards.json"
INDEX_FORMAT = 1
SAMPLE_RATE = 44100


def _order(tracks: Sequence[Track]) -> list[Track]:
    return sorted(tracks, key=lambda t: hashlib.sha256(t.id.encode()).hexdigest())


def _key(track: Track) -> str:
    """A member name without dots (WebDataset splits the key from the extension at the first dot)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in track.id)[:80]
    return f"{safe}_{hashlib.sha1(track.id.encode()).hexdigest()[:8]}"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644  # mtime 0: the same input gives the same shard
    tar.addfile(info, io.BytesIO(data))


class _ShardWriter:
    def __init__(self, out: Path, split: str, limit: int) -> None:
        self.out, self.split, self.limit = out, split, limit
        self.shards: list[dict[str, Any]] = []
        self.tar: tarfile.TarFile | None = None
        self.tmp = ""

    def _open(self) -> None:
        fd, self.tmp = tempfile.mkstemp(dir=self.out, prefix=".shard-", suffix=".part")
        os.close(fd)
        self.tar = tarfile.open(self.tmp, "w", format=tarfile.USTAR_FORMAT)
        self.entry = {"name": f"{self.split}-{len(self.shards):06d}.tar", "split": self.split, "tracks": 0,
                      "seconds": 0.0}

    def add(self, key: str, flac: bytes, meta: dict[str, Any]) -> None:
        if self.tar is None:
            self._open()
        assert self.tar is not None
        _add(self.tar, f"{key}.flac", flac)
        _add(self.tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode())
        self.entry["tracks"] += 1
        self.entry["seconds"] = round(self.entry["seconds"] + meta["frames"] / SAMPLE_RATE, 3)
        if self.tar.fileobj is not None and self.tar.fileobj.tell() >= self.limit:
            self.close()

    def close(self) -> None:
        if self.tar is None:
            return
        self.tar.close()
        self.tar = None
        final = self.out / self.entry["name"]
        h = hashlib.sha256()
        with open(self.tmp, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        os.replace(self.tmp, final)
        self.entry.update(bytes=final.stat().st_size, sha256=h.hexdigest())
        self.shards.append(self.entry)

    def abort(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.tar = None
        if self.tmp and os.path.exists(self.tmp):
            os.unlink(self.tmp)


def pack(manifest: str | Path, out_dir: str | Path, shard_bytes: int = 256 << 20,
         splits: Sequence[str] = ("train", "validation"),
         progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write ``out_dir/{split}-NNNNNN.tar`` and ``out_dir/shards.json``; returns the index."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_split = {s: _order(load_tracks(manifest, s)) for s in splits}
    total = sum(len(v) for v in per_split.values())
    shards: list[dict[str, Any]] = []
    done = 0
    for split, tracks in per_split.items():
        w = _ShardWriter(out, split, shard_bytes)
        try:
            for t in tracks:
                pcm, scale = to_int16(decode_stereo(t.path, SAMPLE_RATE))
                buf = io.BytesIO()
                sf.write(buf, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
                w.add(_key(t), buf.getvalue(), dict(t.to_dict(), scale=scale, frames=int(pcm.shape[0])))
                done += 1
                if progress:
                    progress(done, total)
            w.close()
        except BaseException:
            w.abort()
            raise
        shards += w.shards
    index = {"format": INDEX_FORMAT, "sample_rate": SAMPLE_RATE, "source": str(manifest), "shards": shards,
             "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = out / f".{INDEX_NAME}.part"
    tmp.write_text(json.dumps(index, indent=1) + "\n")
    os.replace(tmp, out / INDEX_NAME)
    return index


def is_shards(path: str | Path) -> bool:
    p = Path(path)
    return (p / INDEX_NAME).is_file() if p.is_dir() else p.name == INDEX_NAME


def read_index(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(folder, index) from a shard folder or its shards.json."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    try:
        index = json.loads((folder / INDEX_NAME).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{folder / INDEX_NAME}: cannot read the shard index ({exc})") from None
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT or not isinstance(index.get("shards"), list):
        raise DataError(f"{folder / INDEX_NAME}: not a muzip shard index (format {INDEX_FORMAT})")
    return folder, index


def iter_shard(source: str | Path | IO[bytes]) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
    """(metadata, int16 ``[frames, 2]``) per track, reading the tar front to back as a stream
    (a path, or any readable byte stream: a pipe, an object-store download)."""
    kw: dict[str, Any] = {"fileobj": source} if hasattr(source, "read") else {"name": str(source)}
    pending: dict[str, dict[str, Any]] = {}
    with tarfile.open(mode="r|", **kw) as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.rpartition("/")[2].partition(".")
            f = tar.extractfile(member)
            assert f is not None
            data = f.read()
            item = pending.setdefault(key, {})
            if ext == "json":
                item["meta"] = json.loads(data)
            elif ext == "flac":
                item["pcm"], _ = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
            if "meta" in item and "pcm" in item:
                del pending[key]
                yield item["meta"], item["pcm"]


class ShardSource:
    """Training excerpts streamed from the shards of one split; see the module docstring.

    ``excerpt(id)`` takes the global ids of :func:`neuralcodec.train.excerpt_ids` (``rank``,
    ``world`` and ``batch`` say how they were numbered) and returns float32 ``[2, samples]``.
    """

    def __init__(self, path: str | Path, split: str, samples: int, seed: int, *, rank: int = 0, world: int = 1,
                 batch: int = 1, augment: bool = True, buffer_tracks: int = 16, excerpts_per_track: int = 8) -> None:
        from .sampler import NO_AUGMENT, Augment

        folder, index = read_index(path)
        names = sorted(s["name"] for s in index["shards"] if s.get("split") == split)
        if not names:
            raise DataError(f"{folder / INDEX_NAME}: no {split!r} shards")
        if len(names) < world:
            raise DataError(f"{len(names)} {split} shard(s) for {world} ranks: every rank needs one "
                            f"(pack with a smaller --shard-mb)")
        self.paths = [folder / n for n in names[rank::world]]
        self.samples, self.seed, self.rank, self.world, self.batch = samples, seed, rank, world, batch
        self.buffer_tracks, self.per_track = buffer_tracks, excerpts_per_track
        self.augment = Augment() if augment else NO_AUGMENT
        self.view = "lr"
        self._stream: Iterator[tuple[dict[str, Any], np.ndarray]] | None = None
        self._window = -1
        self._tracks: list[tuple[np.ndarray, float]] = []

    def _track_stream(self) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
        found = False
        for epoch in range(sys.maxsize):
            order = np.random.default_rng([self.seed, self.rank, epoch]).permutation(len(self.paths))
            for i in order:
                for meta, pcm in iter_shard(self.paths[i]):
                    if pcm.shape[0] >= self.samples and pcm.shape[1] == 2:
                        found = True
                        yield meta, pcm
            if not found:
                raise DataError(f"no track in this rank's shards is {self.samples} samples long")
        raise AssertionError("unreachable")

    def _load(self, window: int) -> None:
        if window < self._window or self._stream is None:  # back to the start (a new run or a rewind)
            self._stream, self._window = self._track_stream(), -1
        while self._window < window:  # read forward; windows before the wanted one are skipped
            self._window += 1
            keep = self._window == window
            tracks = []
            for _ in range(self.buffer_tracks):
                meta, pcm = next(self._stream)
                if keep:
                    tracks.append((pcm, float(meta.get("scale", 1.0))))
            self._tracks = tracks

    def excerpt(self, excerpt_id: int) -> np.ndarray:
        from .sampler import ExcerptSampler

        local = (excerpt_id // self.batch // self.world) * self.batch + excerpt_id % self.batch
        self._load(local // (self.buffer_tracks * self.per_track))
        rng = np.random.default_rng([self.seed, excerpt_id])
        pcm, scale = self._tracks[int(rng.integers(len(self._tracks)))]
        start = int(rng.integers(0, pcm.shape[0] - self.samples + 1))
        x = pcm[start: start + self.samples].astype(np.float32) * np.float32(scale / 32767.0)
        # the sampler's augmentation (gain, swap, width, mono), applied to [n, 2] as it does
        return np.ascontiguousarray(ExcerptSampler._transform(self, x, rng).T)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m neuralcodec.data.shards",
                                 description="Pack a corpus (manifest.json from `muzip data`) into tar shards of "
                                             "16-bit FLAC that training ranks stream.")
    ap.add_argument("manifest", type=Path, help="corpus manifest.json (or its folder)")
    ap.add_argument("out", type=Path, help="folder for the shards and shards.json")
    ap.add_argument("--shard-mb", type=float, default=256.0, help="start a new shard past this size (default 256)")
    ap.add_argument("--splits", default="train,validation", help="splits to pack (default train,validation)")
    args = ap.parse_args(argv)
    manifest = args.manifest / "manifest.json" if args.manifest.is_dir() else args.manifest
    if args.shard_mb <= 0:
        ap.error("--shard-mb must be positive")
    t0 = time.perf_counter()
    try:
        index = pack(manifest, args.out, int(args.shard_mb * (1 << 20)),
                     [s.strip() for s in args.splits.split(",") if s.strip()],
                     progress=lambda d, n: print(f"\r{d}/{n} tracks", end="", file=sys.stderr, flush=True))
    except DataError as exc:
        print(f"\nshards: error: {exc}", file=sys.stderr)
        return 1
    shards = index["shards"]
    print(f"\n{len(shards)} shards, {sum(s['tracks'] for s in shards)} tracks, "
          f"{sum(s['seconds'] for s in shards) / 3600:.2f} h, {sum(s['bytes'] for s in shards) / 1e6:.0f} MB "
          f"in {time.perf_counter() - t0:.0f} s: {args.out / INDEX_NAME}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

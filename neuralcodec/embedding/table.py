"""Embedding rows and their Parquet file (the hand-off to search engines).

One row per file or per segment: ``path``, ``start`` and ``duration`` (seconds), ``model`` (the base
codec model whose integers were read), ``kbps`` (the coded rate they came from) and ``vector``
(float32, unit length). The file-level metadata key ``muzip.embedding`` holds the embedding *space*:
the base model plus the pooling and head that made the vectors. Vectors of different spaces are
never compared; every reader checks the space.

pyarrow is imported only here, when a table is read or written (the ``search`` extra).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MuzipError

META_KEY = b"muzip.embedding"
TABLE_VERSION = 1


@dataclass
class Embedding:
    """One vector: the whole file (``start`` 0, ``duration`` the file's) or one segment of it."""

    path: str
    start: float
    duration: float
    model: str  # base codec model id, e.g. "mdct-f961478b"
    kbps: float  # rate of the coding the integers came from
    space: str  # e.g. "mdct-f961478b/stats-v1" or "mdct-f961478b/stats-v1/head-1a2b3c4d"
    vector: np.ndarray  # float32 [dim], unit length


@dataclass
class EmbeddingTable:
    """A loaded table: columns as arrays, vectors stacked ``[n, dim]`` float32."""

    space: str
    dim: int
    segments: bool  # rows are segments (``--segments``) rather than whole files
    paths: list[str]
    starts: np.ndarray
    durations: np.ndarray
    models: list[str]
    kbps: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


def _pyarrow():  # type: ignore[no-untyped-def]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MuzipError('embedding tables need pyarrow: pip install "muzip[search]"') from None
    return pa, pq


def check_space(rows: Sequence[Embedding]) -> str:
    """The one space of ``rows``; refuses a mix (different base models, poolings or heads)."""
    if not rows:
        raise MuzipError("no embeddings to write (no input gave a vector)")
    spaces = {r.space for r in rows}
    if len(spaces) > 1:
        a, b = sorted(spaces)[:2]
        who = {r.space: r.path for r in rows}
        raise MuzipError(f"vectors from different models cannot be mixed: {who[a]} is {a}, {who[b]} is {b} "
                         f"(embed them into separate tables)")
    return rows[0].space


def write_table(rows: Iterable[Embedding], dst: str | os.PathLike[str], segments: bool = False,
                overwrite: bool | None = None) -> int:
    """Write ``rows`` to a Parquet file atomically; returns the number of rows."""
    from ..safeio import atomic_output

    rows = list(rows)
    space = check_space(rows)
    dims = {r.vector.shape[-1] for r in rows}
    if len(dims) != 1:
        raise MuzipError(f"vectors of one space have different sizes {sorted(dims)}")
    dim = dims.pop()
    pa, pq = _pyarrow()
    vec = np.stack([np.asarray(r.vector, np.float32) for r in rows])
    cols = {
        "path": pa.array([r.path for r in rows], pa.string()),
        "start": pa.array([float(r.start) for r in rows], pa.float64()),
        "duration": pa.array([float(r.duration) for r in rows], pa.float64()),
        "model": pa.array([r.model for r in rows], pa.string()),
        "bitrate": pa.array([float(r.kbps) for r in rows], pa.float64()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.reshape(-1), pa.float32()), dim),
    }
    meta = {"version": TABLE_VERSION, "space": space, "dim": dim, "segments": bool(segments),
            "bitrate_unit": "kbit/s"}
    table = pa.table(cols).replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    with atomic_output(Path(dst), overwrite) as tmp:
        pq.write_table(table, tmp)
    return len(rows)


def read_table(src: str | os.PathLike[str]) -> EmbeddingTable:
    """Read a table written by :func:`write_table`; anything else is refused in one line."""
    p = Path(src)
    if not p.is_file():
        raise MuzipError(f"{p}: no such index file")
    pa, pq = _pyarrow()
    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises several kinds for a non-Parquet or damaged file
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        why = why if len(why) <= 120 else why[:120].rsplit(" ", 1)[0] + " ..."
        raise MuzipError(f"{p}: not a Parquet embedding table ({why})") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise MuzipError(f"{p}: not a muzip embedding table (no '{META_KEY.decode()}' metadata)")
    try:
        meta = json.loads(raw)
        space, dim, segments = str(meta["space"]), int(meta["dim"]), bool(meta["segments"])
        version = int(meta["version"])
    except (ValueError, KeyError, TypeError):
        raise MuzipError(f"{p}: damaged '{META_KEY.decode()}' metadata") from None
    if version > TABLE_VERSION:
        raise MuzipError(f"{p}: embedding table version {version} is newer than this muzip ({TABLE_VERSION})")
    need = {"path", "start", "duration", "model", "bitrate", "vector"}
    if not need <= set(table.column_names):
        raise MuzipError(f"{p}: embedding table lacks columns {sorted(need - set(table.column_names))}")
    n = table.num_rows
    if n == 0:
        raise MuzipError(f"{p}: the index is empty")
    col = table.column("vector").combine_chunks()
    try:
        flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        vectors = flat.reshape(n, dim)
    except ValueError:
        raise MuzipError(f"{p}: vectors do not have the declared size {dim}") from None
    if not np.isfinite(vectors).all():
        raise MuzipError(f"{p}: the index holds non-finite vectors")
    return EmbeddingTable(space, dim, segments, table.column("path").to_pylist(),
                          table.column("start").to_numpy().astype(np.float64),
                          table.column("duration").to_numpy().astype(np.float64),
                          table.column("model").to_pylist(),
                          table.column("bitrate").to_numpy().astype(np.float64), vectors)

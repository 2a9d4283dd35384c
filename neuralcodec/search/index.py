"""Nearest-neighbour search over embedding vectors (cosine similarity of unit vectors).

The default backend is exact: the query block times the index in chunks (numpy matmul), the best
``k`` of each chunk by ``argpartition``, merged. It needs no extra package and is fast enough to
about a million vectors (``benchmarks/search_speed.py`` measures it). The optional ``usearch``
backend (``pip install "muzip[ann]"``) builds an HNSW graph for larger libraries; its candidates are
re-scored exactly, so scores are true cosines whichever backend found them.

Every search checks the embedding space: vectors of another base model, pooling or head are
refused in one line, never compared.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MuzipError

BACKENDS = ("auto", "exact", "usearch")
AUTO_EXACT_LIMIT = 1_000_000  # "auto" stays exact below this many vectors
CHUNK_ROWS = 65536  # index rows per matmul block (bounds the score buffer: queries x CHUNK_ROWS)
ANN_EXPANSION = 256  # usearch search breadth (its default, 64, missed too many true neighbours here:
#                      benchmarks/results/search_speed.json sweeps it)


@dataclass
class Hits:
    """Search results, best first: ``indices[q, j]`` (rows of the index) and their ``scores``."""

    indices: np.ndarray  # int64 [queries, k]
    scores: np.ndarray  # float32 [queries, k]


def check_k(k: int) -> int:
    if int(k) <= 0:
        raise MuzipError(f"-k must be at least 1, got {k}")
    return int(k)


def _usearch():  # type: ignore[no-untyped-def]
    try:
        from usearch.index import Index
    except ImportError:
        raise MuzipError('the usearch backend needs usearch: pip install "muzip[ann]" (or use --backend exact)') from None
    return Index


def usearch_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("usearch") is not None
    except (ImportError, ValueError):
        return False


def _topk_sorted(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``scores`` [q, n]: the ``k`` best columns, best first (ties: lower column first)."""
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1) if part.shape[0] else part
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


class VectorIndex:
    """Cosine search over ``vectors`` [n, dim] (unit length, float32) of one embedding ``space``."""

    def __init__(self, vectors: np.ndarray, space: str, backend: str = "auto",
                 ann_cache: str | os.PathLike[str] | None = None, threads: int = 1) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise MuzipError(f"index vectors must be [n, dim], got shape {vectors.shape}")
        if vectors.shape[0] == 0:
            raise MuzipError("the index is empty")
        if backend not in BACKENDS:
            raise MuzipError(f"unknown search backend {backend!r} (choose from {', '.join(BACKENDS)})")
        if backend == "auto":
            backend = "usearch" if len(vectors) >= AUTO_EXACT_LIMIT and usearch_available() else "exact"
        self.vectors = vectors
        self.space = space
        self.backend = backend
        self.threads = max(1, int(threads))
        self._ann = None
        if backend == "usearch":
            self._ann = self._build_ann(ann_cache)
            self._ann.expansion_search = ANN_EXPANSION

    @classmethod
    def from_table(cls, table, backend: str = "auto", ann_cache: str | os.PathLike[str] | None = None,  # type: ignore[no-untyped-def]
                   threads: int = 1) -> VectorIndex:
        """From an :class:`~neuralcodec.embedding.table.EmbeddingTable`."""
        return cls(table.vectors, table.space, backend, ann_cache, threads)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    # -- ANN ----------------------------------------------------------------------------------------

    def _build_ann(self, cache: str | os.PathLike[str] | None):  # type: ignore[no-untyped-def]
        Index = _usearch()
        n, dim = self.vectors.shape
        if cache is not None and Path(cache).is_file():
            ann = Index(ndim=dim, metric="cos", dtype="f32")
            try:
                ann.load(str(cache))
            except Exception as exc:  # usearch raises RuntimeError/ValueError for a foreign file
                raise MuzipError(f"{cache}: not a usearch index ({str(exc).splitlines()[0][:100]})") from None
            probe = np.unique(np.linspace(0, n - 1, min(n, 16)).astype(np.int64))
            got = ann.get(probe) if len(ann) == n and ann.ndim == dim else None
            if got is None or not np.allclose(np.asarray(got, np.float32), self.vectors[probe], atol=1e-5):
                raise MuzipError(f"{cache}: this usearch index was built from another table "
                                 f"(delete it to rebuild)")
            return ann
        ann = Index(ndim=dim, metric="cos", dtype="f32")
        ann.add(np.arange(n, dtype=np.uint64), self.vectors, threads=self.threads)
        if cache is not None:
            from ..safeio import atomic_output

            with atomic_output(Path(cache), overwrite=False) as tmp:
                ann.save(tmp)
        return ann

    # -- search -------------------------------------------------------------------------------------

    def check_query(self, queries: np.ndarray, space: str | None, where: str = "the query") -> np.ndarray:
        if space is not None and space != self.space:
            raise MuzipError(f"{where} is in embedding space {space}, but the index holds {self.space} "
                             f"(vectors of different models, poolings or heads cannot be compared)")
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise MuzipError(f"{where} has vectors of size {q.shape[-1]}, the index {self.dim}")
        if not np.isfinite(q).all():
            raise MuzipError(f"{where} holds non-finite values")
        return np.ascontiguousarray(q)

    def search(self, queries: np.ndarray, k: int, space: str | None = None,
               exclude: Sequence[np.ndarray] | None = None) -> Hits:
        """The ``k`` most similar rows for each query (fewer when the index is smaller).

        ``space`` (the queries' embedding space) is checked against the index's. ``exclude[i]``:
        rows never returned for query ``i`` (the query's own row or file).
        """
        k = check_k(k)
        q = self.check_query(queries, space)
        if exclude is not None and len(exclude) != len(q):
            raise ValueError("exclude needs one array per query")
        if self._ann is not None:
            return self._search_ann(q, k, exclude)
        return self._search_exact(q, k, exclude)

    def _search_exact(self, q: np.ndarray, k: int, exclude: Sequence[np.ndarray] | None) -> Hits:
        n = len(self)
        best_i = np.empty((len(q), 0), np.int64)
        best_s = np.empty((len(q), 0), np.float32)
        for lo in range(0, n, CHUNK_ROWS):
            hi = min(n, lo + CHUNK_ROWS)
            s = q @ self.vectors[lo:hi].T
            if exclude is not None:
                for i, rows in enumerate(exclude):
                    rows = np.asarray(rows, np.int64)
                    rows = rows[(rows >= lo) & (rows < hi)] - lo
                    s[i, rows] = -np.inf
            idx, val = _topk_sorted(s, k)
            best_i = np.concatenate([best_i, idx + lo], axis=1)
            best_s = np.concatenate([best_s, val], axis=1)
            if best_i.shape[1] > k:
                order, best_s = _topk_sorted_pairs(best_i, best_s, k)
                best_i = order
        return _drop_excluded(best_i, best_s)

    def _search_ann(self, q: np.ndarray, k: int, exclude: Sequence[np.ndarray] | None) -> Hits:
        n = len(self)
        extra = max((len(e) for e in exclude), default=0) if exclude is not None else 0
        want = min(n, k + extra)
        m = self._ann.search(q, want, threads=self.threads)
        keys = np.asarray(m.keys, np.int64).reshape(len(q), -1)
        rows_i, rows_s = [], []
        for i in range(len(q)):
            cand = keys[i][(keys[i] >= 0) & (keys[i] < n)]
            if exclude is not None:
                cand = cand[~np.isin(cand, exclude[i])]
            scores = self.vectors[cand] @ q[i]  # exact cosines for the candidates
            order = np.lexsort((cand, -scores))[:k]
            ii = np.full(min(k, n), -1, np.int64)
            ss = np.full(min(k, n), -np.inf, np.float32)
            ii[:len(order)], ss[:len(order)] = cand[order], scores[order]
            rows_i.append(ii)
            rows_s.append(ss)
        return _drop_excluded(np.stack(rows_i), np.stack(rows_s))


def _topk_sorted_pairs(idx: np.ndarray, val: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``k`` best (value, then lower index) of each row of candidate pairs."""
    order = np.lexsort((idx, -val), axis=1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(val, order, axis=1)


def _drop_excluded(idx: np.ndarray, val: np.ndarray) -> Hits:
    """Excluded rows score -inf; trim trailing columns that hold only those (or ANN misses)."""
    keep = np.isfinite(val).any(axis=0)
    width = int(np.max(np.flatnonzero(keep)) + 1) if keep.any() else 0
    return Hits(idx[:, :width].astype(np.int64), val[:, :width].astype(np.float32))


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> Hits:
    """Exact cosine search without a space check (benchmarks, tests)."""
    return VectorIndex(vectors, "", "exact").search(queries, k)

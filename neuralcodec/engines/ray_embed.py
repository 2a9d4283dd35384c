"""`muzip embed PATHS... -o TABLE --engine ray [--address ADDR]`: embedding on Ray actors.

Files are handed to actors in chunks; each actor keeps the model's tables and the head in its
caches between chunks, reads integers from .mzp files (or codes audio on the fly) and returns rows.
The driver puts the rows back in input order, so the table is the same as a local run's, and
writes it once at the end (atomically, by the caller). Rows travel through Ray's object store
between muzip's own processes; nothing a user hands us is unpickled. Inputs must be visible under
the same paths on every node.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import MuzipError
from .ray_engine import import_ray, start_ray

CHUNK = 16  # files per task: enough to hide a task's overhead (~1 ms) behind ~20 ms of work


class Embedder:
    """One Ray actor: embeds chunks of files with the options it was made with."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def embed(self, paths: list[str]) -> tuple[list[Any], list[tuple[str, str]]]:
        from ..embedding.embed import embed_files

        failed: list[tuple[str, str]] = []
        rows = embed_files(paths, on_error=lambda p, m: failed.append((p, m)), **self.options)
        return rows, failed


def embed_on_ray(files: Sequence[str], options: dict[str, Any], address: str | None = None,
                 workers: int | None = None, chunk: int = CHUNK) -> tuple[list[Any], list[tuple[str, str]]]:
    """Rows of ``files`` in input order and the failures, computed by Ray actors (one CPU each)."""
    ray = import_ray()
    started = start_ray(ray, address, workers, 1)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise MuzipError("the Ray cluster has no CPU")
        n = max(1, min(workers or cpus, cpus, math.ceil(len(files) / chunk)))
        actors = [ray.remote(Embedder).options(num_cpus=1, max_restarts=0).remote(options) for _ in range(n)]
        chunks = [list(files[i:i + chunk]) for i in range(0, len(files), chunk)]
        refs = [actors[i % n].embed.remote(c) for i, c in enumerate(chunks)]  # an actor runs its tasks in order
        rows: list[Any] = []
        failed: list[tuple[str, str]] = []
        for ref, c in zip(refs, chunks, strict=True):
            try:
                got, bad = ray.get(ref)
            except ray.exceptions.RayError as exc:
                if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(exc.cause, MuzipError):
                    raise exc.cause from None  # e.g. inputs from different models: one line, as locally
                msg = f"Ray worker failed: {type(exc).__name__}: {exc}".splitlines()[0]
                got, bad = [], [(p, msg) for p in c]
            rows += got
            failed += bad
        for a in actors:
            ray.kill(a, no_restart=True)
        return rows, failed
    finally:
        if started:
            ray.shutdown()

"""Where the files of a batch run are coded: this process, a local process pool, or a Ray cluster.

An engine takes jobs one at a time (:meth:`Engine.submit`, at most :attr:`Engine.slots` in flight)
and hands back finished results (:meth:`Engine.wait`). Everything else (skipping finished files,
the results manifest, retrying a failed file once, the summary) is shared, in
:func:`neuralcodec.batch.run`, so the engines differ only in where :func:`neuralcodec.batch.run_one`
runs. No torch or ray import here: :func:`make_engine` imports the one asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..batch import Job, JobResult

ENGINES = ("local", "ray")


class Engine(Protocol):
    name: str
    workers: int  # processes (or Ray actors) coding files
    threads: int  # torch threads in each
    slots: int  # jobs in flight at once

    def submit(self, index: int, job: Job) -> None: ...

    def wait(self) -> list[tuple[int, JobResult]]:
        """Block until at least one submitted job has finished; its (index, result) pairs."""
        ...

    def close(self, cancel: bool = False) -> None: ...


def make_engine(name: str, kind: str, options: dict[str, Any], workers: int | None, threads: int,
                address: str | None = None) -> Engine:
    """``workers`` None: the engine's own choice (local: 1; ray: one actor per ``threads`` CPUs)."""
    if name == "local":
        from .local import InlineEngine, PoolEngine

        n = workers or 1
        return InlineEngine(kind, options, threads) if n <= 1 else PoolEngine(kind, options, n, threads)
    if name == "ray":
        from .ray_engine import RayEngine

        return RayEngine(kind, options, workers, threads, address)
    raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")

"""The results manifest of a batch run: one JSON line per file as it finishes, so a run can resume.

`muzip encode/decode ... --manifest FILE` (always on with ``--engine ray``, by default
``OUTDIR/muzip-results.jsonl``) appends a line as each file finishes, flushed at once, so a run
killed at any moment (Ctrl-C, SIGKILL, a lost cluster node) keeps the record of every file it
finished. Each line::

    {"kind": "encode", "path": "lib/a.wav", "output": "out/a.mzp", "status": "done",
     "sha256": "...", "bytes": 20480, "seconds": 0.41, "kbps": 16.0, "duration": 10.0,
     "attempt": 1, "run": "20260101T120000-4242", "worker": "node3:1234", "message": "",
     "input_size": 1764044, "input_mtime_ns": 1700000000000000000, "time": "2026-01-01T12:00:01"}

``status`` is ``done``, ``retry`` (attempt 1 failed; the file is tried once more) or ``failed``
(given up). ``seconds`` is coding time on the worker (model load excluded), ``kbps`` the .mzp's
bitrate (encoding: the output, decoding: the input). Files skipped as already done write no line,
so after a resumed run each file has one ``done`` line, and ``run`` tells which run coded it.

On resume, a file is skipped when its last line for (kind, path, output) is ``done``, the input's
size and mtime are the ones recorded, and the output still exists with the recorded size. Standard
library only: the CLI and the Ray driver import it without torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import MuzipError

DEFAULT_NAME = "muzip-results.jsonl"
STATUSES = ("done", "retry", "failed")
REQUIRED = ("kind", "path", "output", "status")


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_id() -> str:
    """Names one invocation in the manifest: UTC start time and the driver's pid."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _key(kind: str, path: str, output: str) -> tuple[str, str, str]:
    return kind, os.path.abspath(path), os.path.abspath(output)


def read_entries(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The manifest's entries in order. A torn last line (a crash mid-write) is ignored; a file that
    is not a results manifest at all is refused with one line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as exc:
        raise MuzipError(f"{p}: cannot read the results manifest ({getattr(exc, 'strerror', None) or exc})") from None
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            ok = isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in REQUIRED)
        except json.JSONDecodeError:
            ok = False
        if not ok:
            if n == len(lines) and not text.endswith("\n"):
                return  # the unfinished last line of a killed run
            raise MuzipError(f"{p}: line {n} is not a muzip results entry (is this a results manifest?)")
        yield entry


class Manifest:
    """Append-only JSON-lines record of a batch run; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise MuzipError(f"{self.path}: is a directory (the results manifest is a file)")
        self.last: dict[tuple[str, str, str], dict[str, Any]] = {}
        for entry in read_entries(self.path):
            self.last[_key(entry["kind"], entry["path"], entry["output"])] = entry
        self.run = run_id()
        self._fh: IO[str] | None = None

    def done(self, kind: str, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> dict[str, Any] | None:
        """The ``done`` entry of this file, if it still holds (same input, output present, same size)."""
        e = self.last.get(_key(kind, str(src), str(dst)))
        if e is None or e.get("status") != "done":
            return None
        try:
            si, so = os.stat(src), os.stat(dst)
        except OSError:
            return None
        if (e.get("input_size"), e.get("input_mtime_ns")) != (si.st_size, si.st_mtime_ns) or e.get("bytes") != so.st_size:
            return None
        return e

    def open(self) -> Manifest:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _drop_torn_tail(self.path)
            self._fh = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise MuzipError(f"{self.path}: cannot write the results manifest ({exc.strerror or exc})") from None
        return self

    def record(self, entry: dict[str, Any]) -> None:
        """Append one entry (``run`` and ``time`` are added) and flush it to the OS at once."""
        assert self._fh is not None, "Manifest.open() first"
        entry = dict(entry, run=self.run, time=time.strftime("%Y-%m-%dT%H:%M:%S"))
        self._fh.write(json.dumps(entry, separators=(", ", ": ")) + "\n")
        self._fh.flush()
        self.last[_key(entry["kind"], entry["path"], entry["output"])] = entry

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            finally:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> Manifest:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_torn_tail(path: Path) -> None:
    """Cut an unfinished last line (a run killed mid-write), so the next entry starts a line."""
    try:
        f = open(path, "r+b")
    except FileNotFoundError:
        return
    with f:
        end = f.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            step = min(pos, 1 << 16)
            f.seek(pos - step)
            chunk = f.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                cut = pos - step + nl + 1
                break
            pos -= step
        else:
            cut = 0
        if cut != end:
            f.truncate(cut)


def input_stat(src: str | os.PathLike[str]) -> dict[str, int]:
    try:
        st = os.stat(src)
    except OSError:
        return {}
    return {"input_size": st.st_size, "input_mtime_ns": st.st_mtime_ns}

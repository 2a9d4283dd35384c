"""Output safety: nothing left behind, nothing overwritten by surprise. Standard library only.

- Every temp file muzip creates (``.<name>.*.part`` beside an output, ``muzip-stdin-*`` spools) is
  registered while it exists; the CLI removes what is left on any exit, signals included
  (:func:`remove_temps`). Creation and registration happen with SIGINT/SIGTERM blocked, so no
  signal can fall between them.
- Outputs honour the umask (``mkstemp`` alone would make every file 0600).
- The no-overwrite rule is enforced where the file appears, atomically: the finished temp file is
  hard-linked to the output name, which fails if that name exists (two encodes racing to one new
  path: one wins, the other is refused); with ``--force`` it is renamed over it. Where hard links
  are not supported the name is reserved with ``O_CREAT | O_EXCL`` instead.
- :func:`check_output` refuses an output that cannot work (a folder, a missing or unwritable
  folder, a device, an existing file without ``--force``, the input itself) before any work starts.

This module imports nothing heavy, so the CLI can install its signal handling before torch loads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import MuzipError

_LIVE: set[str] = set()  # temp files created and not yet published or removed
_POLICY: dict[str, bool] = {}  # absolute output path -> overwrite allowed (set by check_output)
_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                             getattr(signal, "SIGHUP", None)) if s is not None)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP (they are delivered right after): for steps that must not be split."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with signals_blocked():
        old = os.umask(0o022)
        os.umask(old)
    return old


def make_temp(folder: str | os.PathLike[str] | None, prefix: str, suffix: str = "") -> str:
    """Create an empty temp file (mode 0666 less the umask) and register it for cleanup."""
    with signals_blocked():
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        _LIVE.add(path)
    try:
        os.fchmod(fd, 0o666 & ~umask())
    finally:
        os.close(fd)
    return path


def remove_temp(path: str) -> None:
    """Delete a temp file (gone already is fine) and forget it."""
    with signals_blocked():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        _LIVE.discard(path)


def remove_temps() -> list[str]:
    """Delete every registered temp file still present; returns the ones removed."""
    removed = []
    for path in sorted(_LIVE):
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        _LIVE.discard(path)
    return removed


def live_temps() -> list[str]:
    return sorted(_LIVE)


def _key(path: Path) -> str:
    return os.path.abspath(path)


def check_output(dst: str | os.PathLike[str], force: bool, src: str | os.PathLike[str] | None = None) -> None:
    """Refuse an output path that cannot work, before the work starts; ``'-'`` (stdout) always passes.

    Records ``force`` for the path, so :class:`atomic_output` later publishes it without
    overwriting (or with, under ``--force``) atomically.
    """
    if str(dst) == "-":
        return
    p = Path(dst)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise MuzipError(f"{p}: is a directory (name an output file, e.g. {p / 'out'})")
    if not folder.exists():
        raise MuzipError(f"{p}: folder {folder} does not exist")
    if not folder.is_dir():
        raise MuzipError(f"{p}: {folder} is not a folder")
    if p.exists() or p.is_symlink():
        if not force:
            raise MuzipError(f"{p}: already exists (use -f/--force to overwrite)")
        if p.exists() and not p.is_file():
            raise MuzipError(f"{p}: exists and is not a regular file; refusing to replace it "
                             f"(write to '-' and redirect instead)")
        if src is not None and str(src) != "-" and Path(src).exists() and os.path.samefile(p, src):
            raise MuzipError(f"{p}: output would overwrite the input")
    try:  # the only honest test of writability: create a file there (and remove it)
        remove_temp(make_temp(folder, f".{p.name}.", ".part"))
    except OSError as exc:
        raise MuzipError(f"{p}: cannot write in folder {folder} ({exc.strerror or exc})") from None
    _POLICY[_key(p)] = force


def publish(tmp: str, path: Path, overwrite: bool) -> None:
    """Make the finished ``tmp`` appear as ``path``: rename (overwrite) or link (never overwrite)."""
    with signals_blocked():
        if overwrite:
            os.replace(tmp, path)
            _LIVE.discard(tmp)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise MuzipError(f"{path}: already exists (use -f/--force to overwrite)") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK,
                                 errno.ENOSYS, errno.EACCES):
                raise
            try:  # no hard links here: reserve the name exclusively, then rename over our own file
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~umask()))
            except FileExistsError:
                raise MuzipError(f"{path}: already exists (use -f/--force to overwrite)") from None
            os.replace(tmp, path)
            _LIVE.discard(tmp)
            return
        remove_temp(tmp)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class atomic_output:
    """Context manager yielding a temp path beside ``path``; published there only on success.

    A failed or interrupted write leaves the user's existing file untouched and no partial file.
    ``overwrite`` None means: what :func:`check_output` recorded for this path, else True (library
    callers such as ``write_audio`` replace their outputs, as before).
    """

    def __init__(self, path: Path, overwrite: bool | None = None) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.tmp: str | None = None

    def __enter__(self) -> str:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise MuzipError(f"{self.path}: folder {folder} does not exist")
        if self.path.is_dir():
            raise MuzipError(f"{self.path}: is a directory (name an output file)")
        self.tmp = make_temp(folder, f".{self.path.name}.", ".part")
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        assert self.tmp is not None
        if exc_type is not None:
            remove_temp(self.tmp)
            return
        try:
            _fsync(self.tmp)  # a full disk shows here at the latest (delayed allocation)
            overwrite = self.overwrite if self.overwrite is not None else _POLICY.pop(_key(self.path), True)
            publish(self.tmp, self.path, overwrite)
        except BaseException:
            remove_temp(self.tmp)
            raise


def spool_stdin(stream: BinaryIO | None = None) -> str:
    """Copy stdin to a registered temp file: libsndfile and two-pass rate control need to seek.

    A failure (full disk, a signal) removes the partial copy before the error propagates.
    """
    src = stream if stream is not None else sys.stdin.buffer
    tmp = make_temp(None, "muzip-stdin-")
    try:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except OSError as exc:
        remove_temp(tmp)
        raise MuzipError(f"cannot copy stdin to {tmp} ({exc.strerror or exc})") from None
    except BaseException:
        remove_temp(tmp)
        raise
    return tmp


def write_all(out: BinaryIO, data: bytes | memoryview) -> None:
    """Write every byte or fail: a raw stream's short write is retried, a zero-byte write is an error."""
    view = memoryview(data)
    while len(view):
        n = out.write(view)
        if n is None:  # non-blocking stream that would block
            raise MuzipError("output stream is non-blocking and full; cannot write")
        if n <= 0:
            raise MuzipError(f"short write: {len(view)} bytes could not be written")
        view = view[n:]

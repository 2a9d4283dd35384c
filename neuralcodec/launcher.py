"""The `muzip` process: signals, exit statuses and one-line errors around the click commands.

This is the console script's entry point and imports nothing heavy at module level: SIGINT,
SIGTERM and SIGHUP handling is in place before torch and the commands are imported, so Ctrl-C in
the first second exits like Ctrl-C at any other moment: one line, status 130 (143 for SIGTERM,
129 for SIGHUP), temp files and stdin spools removed (:func:`neuralcodec.safeio.remove_temps`).

Exit status: 0 success, 1 a problem with input/output/model (one line ``muzip: error: ...``),
2 usage error. Warnings (audio above full scale, ...) are one line ``muzip: warning: ...`` each.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import sys
import traceback
import warnings
from typing import NoReturn

import click

from .errors import MuzipError
from .safeio import remove_temps

EXIT_STATUS = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}


class FiniteFloat(click.ParamType):
    """A command-line float that is a real number: nan and inf are usage errors (exit 2)."""

    name = "float"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return x


FINITE = FiniteFloat()


class Interrupted(BaseException):
    """A terminating signal arrived; unwinds like KeyboardInterrupt (``finally`` blocks run)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_on_signal(signum: int, frame: object) -> None:
    _ignore_signals()  # a second Ctrl-C during cleanup must not leave a half-cleaned state
    raise Interrupted(signum)


def _signals() -> list[signal.Signals]:
    return [getattr(signal, n) for n in EXIT_STATUS if hasattr(signal, n)]


def _install_handlers() -> dict:
    """Install the handlers; returns the previous ones (restored when main() is called in-process)."""
    old = {}
    for s in _signals():
        if s == signal.SIGHUP and signal.getsignal(s) == signal.SIG_IGN:
            continue  # nohup: keep ignoring hang-ups
        old[s] = signal.signal(s, _raise_on_signal)
    return old


def _ignore_signals() -> None:
    for s in _signals():
        signal.signal(s, signal.SIG_IGN)


def _say(line: str) -> None:
    try:
        sys.stderr.write(line.replace("\n", " ").rstrip() + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    if issubclass(category, UserWarning) and category.__module__.startswith("neuralcodec"):
        _say(f"muzip: warning: {message}")
    elif os.environ.get("MUZIP_DEBUG"):
        _say(warnings.formatwarning(message, category, filename, lineno, line))


def _detach_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail a second time."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def _os_error(exc: OSError) -> str:
    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        return "output pipe closed before all data was written (broken pipe)"
    what = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what += " (the output is incomplete and was removed)"
    return what + (f": {exc.filename}" if exc.filename else "")


def _is_soundfile_short_write(exc: BaseException) -> bool:
    """soundfile reports a short write (disk full, file size limit) as a bare AssertionError."""
    if not isinstance(exc, AssertionError):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and os.path.basename(frames[-1].filename) == "soundfile.py"


def _status_for(exc: BaseException) -> tuple[int, str | None]:
    """Exit status and the one line to print for an exception that reached the top."""
    if isinstance(exc, Interrupted):
        name = signal.Signals(exc.signum).name
        return EXIT_STATUS.get(name, 128 + exc.signum), f"muzip: {'interrupted' if name == 'SIGINT' else 'terminated'} ({name})"
    if isinstance(exc, KeyboardInterrupt) or isinstance(exc, click.exceptions.Abort):
        return 130, "muzip: interrupted (SIGINT)"
    if isinstance(exc, click.ClickException):
        exc.show()
        return (2 if isinstance(exc, click.UsageError) else 1), None
    if isinstance(exc, MuzipError):
        return 1, f"muzip: error: {exc}"
    if isinstance(exc, OSError):
        return 1, f"muzip: error: {_os_error(exc)}"
    if _is_soundfile_short_write(exc):
        return 1, "muzip: error: could not write all audio to the output (disk full or file size limit?); " \
                  "the output was removed"
    if type(exc).__name__ == "LibsndfileError":
        return 1, f"muzip: error: {str(exc).splitlines()[0] if str(exc) else 'libsndfile failed'}"
    if isinstance(exc, MemoryError):
        return 1, "muzip: error: out of memory"
    # a bug: still one line (and no partial output); MUZIP_DEBUG=1 shows the traceback
    if os.environ.get("MUZIP_DEBUG"):
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    first = str(exc).splitlines()[0] if str(exc) else ""
    return 1, f"muzip: error: internal error ({type(exc).__name__}{': ' + first[:200] if first else ''}); " \
              f"please report it (MUZIP_DEBUG=1 shows the traceback)"


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the `muzip` command line and exit with its status; never a traceback for user errors."""
    previous = _install_handlers()
    code = 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # type: ignore[assignment]
            from .cli import cli

            cli.main(args=argv, prog_name="muzip", standalone_mode=False)
    except SystemExit as exc:  # click's --help/--version, or a command's own exit
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):  # click met EPIPE and exited 1 silently
            _say(f"muzip: error: {_os_error(BrokenPipeError(errno.EPIPE, 'Broken pipe'))}")
            _detach_stdout()
    except BaseException as exc:  # noqa: B036 (everything ends here: signals, errors, bugs)
        _ignore_signals()
        code, line = _status_for(exc)
        if line:
            _say(line)
    finally:
        _ignore_signals()
        remove_temps()
        for s, handler in previous.items():
            signal.signal(s, handler)
    try:
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError) as exc:
        if code == 0:
            code = 1
            _say(f"muzip: error: {_os_error(exc) if isinstance(exc, OSError) else 'cannot write to stdout'}")
        _detach_stdout()
    sys.exit(code)

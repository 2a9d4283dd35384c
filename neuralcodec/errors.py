"""Errors a user can cause. The CLI turns each into a one-line message and exit status 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class MuzipError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class FormatError(MuzipError):
    """An .mzp file is malformed, corrupted or truncated."""


class ModelNotFoundError(MuzipError):
    """The model a file needs (or the user asked for) is not installed."""


class ClippingWarning(UserWarning):
    """Audio above full scale (0 dBFS) that a fixed-point output cannot hold."""


def is_panic(exc: BaseException) -> bool:
    """A Rust panic surfacing from an extension (constriction): ``pyo3_runtime.PanicException``.

    It derives from BaseException, so ``except Exception`` misses it; its class cannot be imported
    by name, so it is recognised by module and name.
    """
    t = type(exc)
    return t.__name__ == "PanicException" and t.__module__ == "pyo3_runtime"


@contextmanager
def decoding(where: str) -> Iterator[None]:
    """Turn anything that decoding bad bytes can raise into a :class:`FormatError` about ``where``.

    A FormatError gets ``where`` in front; any other Exception (numpy, zstd, the range coder's
    assertions) or a range-coder panic means a CRC-valid payload that cannot be decoded.
    KeyboardInterrupt, SystemExit and other BaseExceptions pass through.
    """
    try:
        yield
    except FormatError as exc:
        raise FormatError(f"{where}: {exc}") from None
    except MuzipError:
        raise
    except MemoryError:
        raise FormatError(f"{where} cannot be decoded (it asks for more memory than is available)") from None
    except Exception:
        raise FormatError(f"{where} cannot be decoded (corrupted payload)") from None
    except BaseException as exc:
        if is_panic(exc):
            raise FormatError(f"{where} cannot be decoded (corrupted payload)") from None
        raise

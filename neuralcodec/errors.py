"""Errors a user can cause. The CLI turns each into a one-line message and exit status 1."""

from __future__ import annotations


class MuzipError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class FormatError(MuzipError):
    """An .mzp file is malformed, corrupted or truncated."""


class ModelNotFoundError(MuzipError):
    """The model a file needs (or the user asked for) is not installed."""

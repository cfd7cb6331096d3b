# SPDX-License-Identifier: MIT
"""Exceptions: one class per gm_status, all subclasses of genmodel.Error.

Each also derives from the closest built-in exception, so callers that do
not know genmodel can still catch ``ValueError``, ``OSError``, ...
"""
import enum


class Status(enum.IntEnum):
    """gm_status values (core.h); part of the ABI."""
    OK = 0
    EINVAL = -1
    ESHAPE = -2
    ENOMEM = -3
    EIO = -4
    EFORMAT = -5
    ESTATE = -6
    ENUMERIC = -7
    EVERSION = -8
    EUNSUPPORTED = -9
    EINTERNAL = -100


class Error(Exception):
    """A libgenmodel call failed.

    Attributes: ``status`` (a Status, or the raw int for an unknown code),
    ``function`` (the C function called) and ``message`` (gm_last_error()'s
    text, which names the function and the offending value).
    """
    status = None

    def __init__(self, message, status=None, function=None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.function = function
        self.message = message


class InvalidArgument(Error, ValueError):
    status = Status.EINVAL


class ShapeError(Error, ValueError):
    status = Status.ESHAPE


class OutOfMemory(Error, MemoryError):
    status = Status.ENOMEM


class FileError(Error, OSError):
    """GM_EIO: reading or writing a file failed."""
    status = Status.EIO


class FormatError(Error, ValueError):
    status = Status.EFORMAT


class StateError(Error, RuntimeError):
    """GM_ESTATE; also raised by the binding for a closed handle."""
    status = Status.ESTATE


class NumericError(Error, ArithmeticError):
    status = Status.ENUMERIC


class VersionError(Error):
    status = Status.EVERSION


class Unsupported(Error, NotImplementedError):
    status = Status.EUNSUPPORTED


class InternalError(Error, RuntimeError):
    status = Status.EINTERNAL


ERRORS = {cls.status: cls for cls in (
    InvalidArgument, ShapeError, OutOfMemory, FileError, FormatError, StateError,
    NumericError, VersionError, Unsupported, InternalError)}


def error_for(status, message, function=None):
    """The exception for a status code (genmodel.Error for unknown codes)."""
    try:
        status = Status(status)
    except ValueError:
        return Error(message, status, function)
    return ERRORS.get(status, Error)(message, status, function)


class LibraryNotFound(ImportError):
    """libgenmodel could not be loaded; the message lists every place tried."""

"""The C library, for the Linux calls Python does not wrap (malloc_trim, prctl)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The process's C library, or None where ctypes cannot find one."""
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)

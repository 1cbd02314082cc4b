"""Command-line value types shared by the stand-ins' ``python -m fakes.NAME`` parsers.

Each is an ``argparse`` ``type=``: a bad value becomes argparse's usage error (exit 2, one
line naming the option and the reason) instead of a traceback when the value is used.
"""

from __future__ import annotations

import argparse
import logging
import math

__all__ = ["connection_count", "lean_log_records", "log_to_stderr", "os_error_text", "port_number", "seconds"]

MAX_PORT = 65535


def port_number(text: str) -> int:
    """A TCP/UDP port to bind: 0 (any free port) to 65535."""
    try:
        port = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number 0..{MAX_PORT}, not {text!r}") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"port must be 0..{MAX_PORT}, not {port}")
    return port


def seconds(text: str) -> float:
    """A positive, finite number of seconds (a timeout or deadline)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not 0 < value < math.inf:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"seconds must be positive and finite, not {text!r}")
    return value


def connection_count(text: str) -> int:
    """A cap on connections: a whole number, at least 1."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of connections, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1 connection must be allowed, not {value}")
    return value


def os_error_text(error: OSError) -> str:
    """``PATH: reason`` for a file error (``/tmp: Is a directory``), else the error's text."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return error.strerror or str(error)


def log_to_stderr() -> None:
    """Log lines on stderr: "time logger LEVEL message", INFO and up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def lean_log_records() -> None:
    """Log records without what :func:`log_to_stderr`'s format never shows (the caller's
    file and line, thread and process): the "Optimization" section of Python's logging
    HOWTO. Process-wide, so only a stand-in's own process (its ``__main__``) calls it.

    The KDC writes a line per request, as MIT's krb5kdc does: 12 µs a line in a tight
    loop, 7.5 µs without them; under benchmarks/kdc_rate.py's load the line cost the KDC
    process 50-75 µs of CPU per TGS-REQ before, 20-45 µs after (against the same process
    logging nothing).
    """
    logging._srcfile = None  # no frame walk for the caller  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False

"""PyCryptodome on ctypes, not cffi: the same ciphers, loaded in a third of the time.

PyCryptodome reaches its C code through cffi when cffi is importable and through ctypes
otherwise (``Cryptodome/Util/_raw_api.py``; both are its supported back ends, ctypes the
usual one on CPython). With cffi, each of its native modules has its C declarations parsed
by pycparser when imported: importing what a lab uses (impacket's Kerberos crypto and NTLM,
DES, RC4) took 56-65 ms with cffi and 24-26 ms with ctypes on the 2-core machine of
``benchmarks/replay_time.py``, in every process that starts a lab. The ciphers it serves
here (NTLM, RC4-HMAC, single DES, RC2 in old PFX files, pyjks) are far from hot paths.

On ctypes, PyCryptodome asks ``platform.architecture()`` once per process whether it runs on
Windows, and that runs the ``file`` command on the Python binary (``platform._syscmd_file``):
a process started, 8-15 ms, in every lab process. :func:`use_ctypes` fills PyCryptodome's
cache of that answer (``cached_architecture``, which it keeps for this purpose) with what
the question needs, from the running interpreter.

:func:`use_ctypes` is called by every module of this repository that imports PyCryptodome,
impacket or pyjks, before that import; only the first import of PyCryptodome in a process
chooses, so it does nothing once PyCryptodome is loaded.
"""

from __future__ import annotations

import struct
import sys
import threading

__all__ = ["use_ctypes"]

_LOCK = threading.Lock()  # sys.modules["cffi"] is hidden for one import at a time


def use_ctypes() -> None:
    """Load PyCryptodome's native-code layer with cffi hidden, so that it takes ctypes."""
    if "Cryptodome.Util._raw_api" in sys.modules:
        return
    with _LOCK:
        absent = object()
        cffi = sys.modules.get("cffi", absent)
        sys.modules["cffi"] = None  # type: ignore[assignment]  # `import cffi` raises ImportError
        try:
            import Cryptodome.Util._raw_api as raw_api
        finally:
            if cffi is absent:
                del sys.modules["cffi"]
            else:
                sys.modules["cffi"] = cffi  # type: ignore[assignment]
        # (bits, linkage) as platform.architecture() gives them. PyCryptodome reads only
        # whether the linkage starts with "Win": if not, a library named without a dot is
        # looked up with ctypes.util.find_library (its own modules are named by full path).
        cached = getattr(raw_api, "cached_architecture", None)
        if cached == []:
            cached[:] = [f"{struct.calcsize('P') * 8}bit", "WindowsPE" if sys.platform == "win32" else "ELF"]

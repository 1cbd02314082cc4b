"""PyCryptodome is loaded on ctypes by the lab (fakes/_cryptodome.py), and still works."""

from __future__ import annotations

import subprocess
import sys

# In a new process, as `ucclab` starts: the lab's packages, then what PyCryptodome chose.
PROBE = """\
import sys
started = []
sys.addaudithook(lambda event, args: started.append(args[0]) if event == "subprocess.Popen" else None)
import fakes.ca, fakes.kerberos, harness.artifacts
import Cryptodome.Util._raw_api as raw
from Cryptodome.Cipher import ARC4, DES
from impacket import ntlm
print(raw.backend, "pycparser" in sys.modules, started)
# RFC 6229's first RC4 vector (key 0102030405) and FIPS 81's DES-ECB example.
print(ARC4.new(bytes.fromhex("0102030405")).encrypt(bytes(16)).hex())
print(DES.new(bytes.fromhex("0123456789abcdef"), DES.MODE_ECB).encrypt(b"Now is t").hex())
print(ntlm.compute_nthash("Password").hex())
"""


def test_the_lab_loads_pycryptodome_on_ctypes_and_its_ciphers_answer_as_before() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    backend, rc4, des, nthash = done.stdout.splitlines()
    # No C declarations parsed by pycparser, no process started (platform.architecture()
    # runs `file` on the Python binary unless PyCryptodome's cache of it is filled).
    assert backend == "ctypes False []"
    assert rc4 == "b2396305f03dc027ccc3524a0a1118a8"
    assert des == "3fa40e8a984d4815"
    assert nthash == "a4f49c406510bdcab6824ee7c30fd852"


def test_cffi_stays_importable_for_everyone_else() -> None:
    script = ("import sys; from fakes._cryptodome import use_ctypes; use_ctypes(); "
              "print('cffi' in sys.modules); import cffi; print(cffi.__name__)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "cffi"]

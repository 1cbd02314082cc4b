#!/usr/bin/env python3
"""Full MTLS handshakes per second: the Front End stand-in beside ``openssl s_server``.

Both servers present the same certificate (fe01's, from a lab), require a client
certificate and trust the lab CA; the client is ``openssl s_time -new`` with the PFX the
page's procedures produced (converted to PEM), once per TLS version. The Front End
stand-in runs in this process's lab, as it does under ``ucclab up``.

    python benchmarks/frontend_handshake_rate.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.pytest_plugin import LabThread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rate(port: int, cert: Path, version: str, seconds: int) -> str:
    out = subprocess.run(
        ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(cert),
         "-new", "-time", str(seconds), f"-{version}"],
        capture_output=True, text=True,
    ).stdout
    # s_time's "N connections in T real seconds" line (its other figure is client CPU time).
    found = re.findall(r"(\d+) connections in (\d+) real seconds", out)
    if not found:
        return "no figure (s_time said: " + out.strip().splitlines()[-1] + ")" if out.strip() else "no figure"
    count, secs = found[-1]
    return f"{int(count) / float(secs):7.1f} handshakes/s ({count} in {secs} s wall)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ucclab-bench-") as tmp:
        folder = Path(tmp)
        lab = LabThread(folder / "lab").start()
        try:
            result = lab.replay("mtls")
            if result.outcome != "confirmed":
                print(f"the replay was not confirmed ({result.outcome}); no benchmark", file=sys.stderr)
                return 1
            client = folder / "ucc01.pem"
            subprocess.run(["openssl", "pkcs12", "-in", str(lab.lab.manifest.file("ucc-pfx")), "-passin", "pass:mnopqr",
                            "-nodes", "-out", str(client)], check=True, capture_output=True)
            fe_state = lab.lab.state_dir / "frontend"
            port = _free_port()
            reference = subprocess.Popen(
                ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(fe_state / "certificate-chain.pem"),
                 "-key", str(fe_state / "private-key.pem"), "-CAfile", str(fe_state / "trusted-roots.pem"),
                 "-Verify", "1", "-quiet", "-naccept", "100000000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            time.sleep(0.7)  # s_server prints nothing useful to wait on with -quiet
            try:
                print(f"MTLS handshakes per second, openssl s_time -new, {args.seconds} s each, same certificates")
                for version in ("tls1_2", "tls1_3"):
                    print(f"  {version}  openssl s_server      {_rate(port, client, version, args.seconds)}")
                    print(f"  {version}  Front End stand-in    {_rate(lab.lab.frontend.port, client, version, args.seconds)}")
            finally:
                reference.terminate()
                reference.wait()
        finally:
            lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

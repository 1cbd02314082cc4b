#!/usr/bin/env python3
"""The KDC stand-in beside MIT's ``krb5kdc``: kinit/s, kvno/s, raw TGS-REQs/s, CPU per TGS-REQ.

Both KDCs run as processes of their own on loopback with the same accounts (``ocs-ucc``
with a password, ``sip/fe01.companya.com`` as a service): MIT's in a throwaway realm made
by ``k5test``, the stand-in as ``python -m fakes.kdc``. Each logs every request to a file,
as MIT's does. Every round measures, the two KDCs always in turns (MIT first on odd
rounds, the stand-in on even ones) so that the load of a shared machine, which comes and
goes, falls on both alike:

- kinit/s and kvno/s: MIT's own ``kinit`` and ``kvno --no-store`` (so every kvno asks the
  KDC), one process per operation, one with each KDC and again, for ``--seconds``; the
  account requires pre-authentication in both realms (AD's default), so a kinit is two
  AS exchanges on both sides;
- raw TGS-REQs/s: ``--requests`` distinct TGS-REQs per KDC (fresh authenticator, nonce and
  subkey each, made beforehand by this package's client) sent over UDP from this one
  Python process, each answer awaited before the next request, 100 to one KDC, then 100
  to the other;
- KDC CPU per TGS-REQ: the KDC process's CPU time over those requests
  (``/proc/PID/task/*/schedstat``, nanoseconds) divided by their number.

Each figure is printed beside MIT's, with the ratio (stand-in / MIT; for CPU, lower is
better)::

    python benchmarks/kdc_rate.py [--rounds 3] [--seconds 6] [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from fakes.kerberos import Credential, KerberosClient, TgsExchange, message_type, utc_now

REALM = "COMPANYA.COM"
USER = "ocs-ucc"
PASSWORD = "Genesys-OCS-2024"  # no quotes or "#": k5test passes it through kadmin.local -q
SERVICE = "sip/fe01.companya.com"
SERVICE_PASSWORD = "fe01-Machine-Pw"


@dataclass
class Kdc:
    """One KDC under test: its name, process id, port and a krb5.conf for MIT's clients."""

    name: str
    pid: int
    port: int
    folder: Path

    def env(self) -> dict[str, str]:
        return dict(os.environ, KRB5_CONFIG=str(self.folder / "client-krb5.conf"),
                    KRB5CCNAME=f"FILE:{self.folder / 'ccache'}")

    def cpu_seconds(self) -> float:
        """CPU time the KDC process has used so far (all its threads)."""
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9


def _client_conf(port: int) -> str:
    # The same client settings for both KDCs: UDP, no DNS, no reverse lookups.
    return (f"[libdefaults]\n    default_realm = {REALM}\n    dns_lookup_kdc = false\n"
            f"    dns_lookup_realm = false\n    rdns = false\n"
            f"[realms]\n    {REALM} = {{\n        kdc = 127.0.0.1:{port}\n    }}\n")


def _free_port_block(size: int) -> int:
    """A port with ``size`` free ports after it (k5test uses portbase .. portbase+9)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size < 65535:
            return base
    raise RuntimeError("no free port block")


@contextmanager
def mit_kdc(folder: Path) -> Iterator[Kdc]:
    """MIT's krb5kdc in a k5test realm holding the benchmark's two principals."""
    import k5test

    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin"
    realm = k5test.K5Realm(realm=REALM, portbase=_free_port_block(10), start_kadmind=False,
                           create_host=False, get_creds=False)
    try:
        realm.addprinc(f"{USER}@{REALM}", PASSWORD)
        realm.addprinc(f"{SERVICE}@{REALM}", SERVICE_PASSWORD)
        # AD requires pre-authentication by default, MIT does not: the same two AS
        # exchanges per kinit on both sides.
        realm.run_kadminl(f"modprinc +requires_preauth {USER}@{REALM}")
        folder.mkdir()
        kdc = Kdc("MIT krb5kdc", realm._kdc_proc.pid, realm.portbase, folder)
        (folder / "client-krb5.conf").write_text(_client_conf(kdc.port))
        yield kdc
    finally:
        realm.stop()


@contextmanager
def standin_kdc(folder: Path) -> Iterator[Kdc]:
    """``python -m fakes.kdc`` with the same two accounts, its log in a file."""
    folder.mkdir()
    log = (folder / "kdc.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes.kdc", "--realm", REALM, "--account", f"{USER}:{PASSWORD}",
         "--account", f"FE01$:{SERVICE_PASSWORD}:{SERVICE}"],
        stdout=subprocess.PIPE, stderr=log, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise RuntimeError(f"the stand-in KDC did not start (exit {process.wait()})")
        kdc = Kdc("stand-in", process.pid, json.loads(line)["udp_port"], folder)
        (folder / "client-krb5.conf").write_text(_client_conf(kdc.port))
        yield kdc
    finally:
        process.terminate()
        process.wait()
        log.close()


def _run(kdc: Kdc, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(args, input=stdin, env=kdc.env(), capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} against {kdc.name} failed: {done.stderr.strip()}")


def _interleaved(operations: dict[str, Callable[[], None]], seconds: float) -> dict[str, float]:
    """Operations per second of each, run in turns (one of each, then again) for about
    ``seconds`` in all, so a load that comes and goes on the machine falls on all alike."""
    spent = dict.fromkeys(operations, 0.0)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for name, operation in operations.items():
            start = time.perf_counter()
            operation()
            spent[name] += time.perf_counter() - start
        count += 1
    return {name: count / spent[name] for name in operations}


def kinit_rates(kdcs: list[Kdc], seconds: float) -> dict[str, float]:
    """kinit per second with each KDC: MIT's kinit, a process per login."""
    def kinit(kdc: Kdc) -> Callable[[], None]:
        return lambda: _run(kdc, "kinit", f"{USER}@{REALM}", stdin=PASSWORD + "\n")

    return _interleaved({kdc.name: kinit(kdc) for kdc in kdcs}, seconds)


def kvno_rates(kdcs: list[Kdc], seconds: float) -> dict[str, float]:
    """kvno per second with each KDC: MIT's kvno with a TGT, a process per service ticket."""
    def kvno(kdc: Kdc) -> Callable[[], None]:
        return lambda: _run(kdc, "kvno", "--no-store", f"{SERVICE}@{REALM}")

    for kdc in kdcs:
        _run(kdc, "kinit", f"{USER}@{REALM}", stdin=PASSWORD + "\n")
    return _interleaved({kdc.name: kvno(kdc) for kdc in kdcs}, seconds)


async def _tgt(kdc: Kdc) -> Credential:
    return await KerberosClient(REALM, [("127.0.0.1", kdc.port)]).get_tgt(USER, PASSWORD)


def tgs_requests(tgt: Credential, count: int) -> list[bytes]:
    """``count`` distinct TGS-REQs: each authenticator a microsecond after the last."""
    start = utc_now()
    requests = []
    for index in range(count):
        moment = start + timedelta(microseconds=index)

        def clock(moment: datetime = moment) -> datetime:
            return moment

        requests.append(TgsExchange(tgt, f"{SERVICE}@{REALM}", now=clock).request())
    return requests


def raw_tgs(kdcs: list[Kdc], requests: dict[str, list[bytes]], batch: int = 100) -> dict[str, tuple[float, float]]:
    """(TGS-REQs per second, KDC CPU seconds per TGS-REQ) for each KDC: one request in
    flight at a time, ``batch`` requests to each KDC in turn."""
    sockets = {}
    for kdc in kdcs:
        sockets[kdc.name] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sockets[kdc.name].connect(("127.0.0.1", kdc.port))
        sockets[kdc.name].settimeout(5)
    spent = {kdc.name: 0.0 for kdc in kdcs}
    cpu = {kdc.name: 0.0 for kdc in kdcs}
    try:
        for first in range(0, len(requests[kdcs[0].name]), batch):
            for kdc in kdcs:
                udp = sockets[kdc.name]
                cpu_before = kdc.cpu_seconds()
                start = time.perf_counter()
                for request in requests[kdc.name][first:first + batch]:
                    udp.send(request)
                    reply = udp.recv(65536)
                    if message_type(reply) != 13:
                        raise RuntimeError(f"{kdc.name} answered a TGS-REQ with APPLICATION {message_type(reply)}")
                spent[kdc.name] += time.perf_counter() - start
                cpu[kdc.name] += kdc.cpu_seconds() - cpu_before
    finally:
        for udp in sockets.values():
            udp.close()
    return {name: (len(requests[name]) / spent[name], cpu[name] / len(requests[name])) for name in spent}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="seconds of kinit, and of kvno, per round (both KDCs in turns)")
    parser.add_argument("--requests", type=int, default=2000, help="raw TGS-REQs per KDC per round")
    args = parser.parse_args()
    import asyncio

    with tempfile.TemporaryDirectory(prefix="ucclab-kdc-bench-") as tmp, \
            mit_kdc(Path(tmp) / "mit") as mit, standin_kdc(Path(tmp) / "standin") as ours:
        tgts = {kdc.name: asyncio.run(_tgt(kdc)) for kdc in (mit, ours)}
        print(f"KDC stand-in / MIT krb5kdc, same MIT clients, a process per operation, in turns for "
              f"{args.seconds:g} s; raw: {args.requests} TGS-REQs each over UDP from one Python process")
        print(f"{'round':>5}  {'kinit/s MIT':>11} {'ours':>6} {'ratio':>6}   {'kvno/s MIT':>10} {'ours':>6} "
              f"{'ratio':>6}   {'TGS-REQ/s MIT':>13} {'ours':>6} {'ratio':>6}   {'CPU µs/TGS MIT':>14} "
              f"{'ours':>6} {'ratio':>6}")
        for round_number in range(1, args.rounds + 1):
            order = [mit, ours] if round_number % 2 else [ours, mit]  # who goes first alternates
            kinit = kinit_rates(order, args.seconds)
            kvno = kvno_rates(order, args.seconds)
            raw = raw_tgs(order, {kdc.name: tgs_requests(tgts[kdc.name], args.requests) for kdc in order})
            m, o = mit.name, ours.name
            print(f"{round_number:>5}  {kinit[m]:11.1f} {kinit[o]:6.1f} {kinit[o] / kinit[m]:5.2f}×   "
                  f"{kvno[m]:10.1f} {kvno[o]:6.1f} {kvno[o] / kvno[m]:5.2f}×   "
                  f"{raw[m][0]:13.0f} {raw[o][0]:6.0f} {raw[o][0] / raw[m][0]:5.2f}×   "
                  f"{raw[m][1] * 1e6:14.0f} {raw[o][1] * 1e6:6.0f} {raw[o][1] / raw[m][1]:5.2f}×", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

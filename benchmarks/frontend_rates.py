#!/usr/bin/env python3
"""The Front End stand-in beside its references, as ratios from the same rounds.

* SIP OPTIONS over MTLS, answered per second, on one kept-alive connection (a request,
  its answer, the next request) and on 50 connections at once (a request on each, then
  the 50 answers), beside a minimal asyncio TLS server on the same certificates that
  answers every request with a fixed ``SIP/2.0 200 OK`` (Python's ``ssl`` through
  ``asyncio.start_server``, a client certificate required);
* full MTLS handshakes per second beside ``openssl s_server`` (``-Verify 1``, the same
  certificate, key and CA), both driven by ``openssl s_time -new``: TLS 1.2 with the
  default profile (sfb2015), TLS 1.3 with the sfb2019 profile. The rate is the connections
  s_time counted over the wall time measured here around it (s_time's own "real seconds"
  is whole seconds);
* with ``--memory N``: the Front End's resident memory before and after answering N more
  OPTIONS (200,000 by default), its event log on (the JSONL file in a temporary folder).

Every server runs in a process of its own (the Front End as ``python -m fakes.frontend``
with the lab's files, its event log mirrored to a file as in a lab), the clients in others;
each round measures a server and then its reference for the same seconds, so a shared
machine's changing load falls on both alike. Beside each rate: the server's CPU time per
request (user + system, from /proc), a figure the machine's load disturbs less.

The certificates are shaped like the lab's (an AD CS-named CA, fe01 and ucc01 with a CRL
distribution point at ``http://labdc01.companya.com/CertEnroll/``), made here; the CRL is
served over HTTP (``python -m http.server``) for the Front End's revocation checks
(``--cdp-host``), which it makes as Lync does. ucc01's certificate allows client
authentication, so that the reference (Python's ``ssl``, which holds OpenSSL's
``ssl_client`` purpose against it) accepts it too.

    python benchmarks/frontend_rates.py [--rounds 3] [--seconds 3] [--memory 200000] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FE_FQDN = "fe01.companya.com"
UCC_FQDN = "ucc01.companya.com"
_TICKS = os.sysconf("SC_CLK_TCK")


# -- the pieces that run in their own processes ---------------------------------------------

def serve_minimal(port: int, cert: str, key: str, ca: str) -> None:
    """The reference: asyncio's TLS server, a client certificate required, a fixed 200."""
    answer = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # an OPTIONS has no body
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        writer.close()

    async def main() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=context, backlog=1024)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


def _options(n: int) -> bytes:
    return (f"OPTIONS sip:{FE_FQDN}:5061;transport=tls SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS {UCC_FQDN}:5061;branch=z9hG4bK{n}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:{UCC_FQDN}>;tag=ucc{n % 97}\r\nTo: <sip:{FE_FQDN}>\r\n"
            f"Call-ID: {n}@{UCC_FQDN}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def run_client(port: int, connections: int, seconds: float, client_pem: str, ca: str, count: int | None) -> None:
    """OPTIONS over ``connections`` MTLS connections (handshakes first, not timed): a
    request on each, then each answer, until ``seconds`` pass (or ``count`` answers).
    Prints "ready" once connected, then the answers and the seconds they took."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    context.load_cert_chain(client_pem)
    sockets = [context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname=FE_FQDN)
               for _ in range(connections)]
    buffers = [b""] * connections
    print("ready", flush=True)
    answered = 0
    started = time.perf_counter()
    stop = started + seconds
    while (count is None and time.perf_counter() < stop) or (count is not None and answered < count):
        for tls in sockets:
            tls.sendall(_options(answered + 1))
        for i, tls in enumerate(sockets):
            while (end := buffers[i].find(b"\r\n\r\n")) < 0:
                data = tls.recv(65536)
                if not data:
                    raise SystemExit("the server closed a connection")
                buffers[i] += data
            buffers[i] = buffers[i][end + 4:]  # every answer here has no body
            answered += 1
    print(answered, time.perf_counter() - started, flush=True)


# -- measuring -------------------------------------------------------------------------------

def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@dataclass
class Rate:
    per_second: float
    cpu_us: float | None  # server CPU per request / handshake

    def __str__(self) -> str:
        cpu = f" ({self.cpu_us:5.0f} µs CPU each)" if self.cpu_us is not None else ""
        return f"{self.per_second:8.0f}/s{cpu}"


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen[str], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def _process(command: list[str], port: int, cwd: Path = REPO) -> Iterator[Server]:
    # Its output goes to a file: a pipe nobody reads would stop a chatty server (s_server
    # prints each client's verification).
    with tempfile.NamedTemporaryFile(prefix="ucclab-bench-", suffix=".log") as log:
        process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_listening(port, process, Path(log.name))
            yield Server(process, port)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def options_rate(server: Server, connections: int, seconds: float, files: Files) -> Rate:
    client = subprocess.Popen([sys.executable, __file__, "--client", str(server.port), str(connections), str(seconds),
                               str(files.client), str(files.ca)], stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    if client.stdout.readline().strip() != "ready":
        raise RuntimeError("the client could not connect")
    cpu = _cpu_seconds(server.process.pid)
    answered_text, elapsed_text = client.stdout.readline().split()
    cpu = _cpu_seconds(server.process.pid) - cpu
    client.wait()
    answered = int(answered_text)
    return Rate(answered / float(elapsed_text), cpu / answered * 1e6)


def handshake_rate(server: Server, version: str, seconds: int, files: Files) -> Rate:
    """``openssl s_time -new``: its connection count over the wall time measured here."""
    cpu = _cpu_seconds(server.process.pid)
    started = time.perf_counter()
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{server.port}", "-cert", str(files.client),
                          "-key", str(files.client), "-new", "-time", str(seconds), f"-{version}"],
                         capture_output=True, text=True, check=False).stdout
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(server.process.pid) - cpu
    found = re.findall(r"(\d+) connections in [\d.]+s", out)
    if not found or not int(found[-1]):
        raise RuntimeError(f"s_time counted no connection: {out.strip().splitlines()[-1:] or out!r}")
    count = int(found[-1])
    return Rate(count / elapsed, cpu / count * 1e6)


# -- the certificates ------------------------------------------------------------------------

@dataclass
class Files:
    chain: Path
    key: Path
    ca: Path
    client: Path
    cert_enroll: Path  # the folder served as http://labdc01.companya.com/CertEnroll/


def make_files(folder: Path) -> Files:
    """A lab-shaped PKI: the CA ``companya-LABDC01-CA``, fe01's certificate (serverAuth) and
    ucc01's (clientAuth and serverAuth, so Python's ``ssl`` in the reference server accepts
    it as a client certificate), both naming the CA's CRL at AD CS's default HTTP CDP, and
    that CRL (empty, valid for a week) in a CertEnroll folder."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_name = "companya-LABDC01-CA"
    cdp = f"http://labdc01.companya.com/CertEnroll/{ca_name}.crl"
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(name: str, ekus: list[x509.ObjectIdentifier]) -> tuple[bytes, bytes]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(cdp)], None, None, None)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
        return (certificate.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))

    fe_cert, fe_key = leaf(FE_FQDN, [ExtendedKeyUsageOID.SERVER_AUTH])
    ucc_cert, ucc_key = leaf(UCC_FQDN, [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH])
    crl = (x509.CertificateRevocationListBuilder().issuer_name(subject).last_update(now - datetime.timedelta(minutes=10))
           .next_update(now + datetime.timedelta(days=7)).sign(ca_key, hashes.SHA256()))
    cert_enroll = folder / "CertEnroll"
    cert_enroll.mkdir()
    (cert_enroll / f"{ca_name}.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    files = Files(folder / "fe01-chain.pem", folder / "fe01.key", folder / "ca.pem", folder / "ucc01.pem", cert_enroll)
    files.chain.write_bytes(fe_cert)
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for path, data in ((files.key, fe_key), (files.client, ucc_key + ucc_cert)):
        path.write_bytes(data)
        os.chmod(path, 0o600)
    return files


@contextmanager
def frontend(files: Files, events: Path, *, profile: str = "sfb2015", repo: Path = REPO) -> Iterator[Server]:
    """``python -m fakes.frontend`` of ``repo`` with these files, checking revocation at
    their CDP (a checkout whose command line predates profiles and revocation runs with
    what it has)."""
    port = _free_port()
    command = [sys.executable, "-m", "fakes.frontend", "--cert", str(files.chain), "--key", str(files.key),
               "--ca", str(files.ca), "--fqdn", FE_FQDN, "--known-peer", UCC_FQDN, "--port", str(port),
               "--events", str(events)]
    options = subprocess.run([sys.executable, "-m", "fakes.frontend", "--help"], cwd=repo, capture_output=True,
                             text=True, check=False).stdout
    cdp_port = _free_port()
    if "--profile" in options:
        command += ["--profile", profile]
    if "--cdp-host" in options:
        command += ["--cdp-host", f"labdc01.companya.com=127.0.0.1:{cdp_port}"]
    # The CA host's CertEnroll site, for the Front End's revocation checks.
    with _process([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                   str(files.cert_enroll.parent), str(cdp_port)], cdp_port), _process(command, port, repo) as server:
        yield server


@contextmanager
def minimal(files: Files) -> Iterator[Server]:
    port = _free_port()
    with _process([sys.executable, __file__, "--serve-minimal", str(port), str(files.chain), str(files.key),
                   str(files.ca)], port) as server:
        yield server


@contextmanager
def s_server(files: Files) -> Iterator[Server]:
    port = _free_port()
    with _process(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(files.chain),
                   "-key", str(files.key), "-CAfile", str(files.ca), "-Verify", "1", "-quiet",
                   "-naccept", "100000000"], port) as server:
        yield server


# -- the report ------------------------------------------------------------------------------

Round = tuple[Rate, Rate, Rate | None]  # this tree's Front End, the reference, the baseline's


def _table(results: dict[str, list[Round]], reference_names: dict[str, str]) -> None:
    for name, rounds in results.items():
        print(f"\n{name}   (reference: {reference_names[name]})")
        for i, (ours, reference, baseline) in enumerate(rounds, start=1):
            line = f"  round {i}:  Front End {ours}   reference {reference}   ratio {ours.per_second / reference.per_second:5.2f}"
            if baseline is not None:
                line += f"   baseline {baseline} ratio {baseline.per_second / reference.per_second:5.2f}"
            print(line)
        ratios = [ours.per_second / reference.per_second for ours, reference, _ in rounds]
        print(f"  ratio median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")
        baselines = [b.per_second / r.per_second for _, r, b in rounds if b is not None]
        if baselines:
            print(f"  baseline ratio median {statistics.median(baselines):.2f} (range {min(baselines):.2f}-{max(baselines):.2f})")


def measure(files: Files, folder: Path, rounds: int, seconds: float, handshake_seconds: int,
            baseline: Path | None) -> None:
    results: dict[str, list[Round]] = defaultdict(list)
    references = {}
    with ExitStack() as servers:
        fe = servers.enter_context(frontend(files, folder / "frontend-events.jsonl"))
        fe13 = servers.enter_context(frontend(files, folder / "frontend-sfb2019-events.jsonl", profile="sfb2019"))
        old = servers.enter_context(frontend(files, folder / "baseline-events.jsonl", repo=baseline)) if baseline else None
        reference = servers.enter_context(minimal(files))
        openssl = servers.enter_context(s_server(files))
        for _ in range(rounds):
            for connections in (1, 50):
                name = f"SIP OPTIONS, {connections} MTLS connection{'s' if connections > 1 else ''}"
                references[name] = "minimal asyncio TLS server, fixed 200"
                ours = options_rate(fe, connections, seconds, files)
                then = options_rate(old, connections, seconds, files) if old else None
                results[name].append((ours, options_rate(reference, connections, seconds, files), then))
            for version, server in (("tls1_2", fe), ("tls1_3", fe13)):
                name = f"full MTLS handshakes, {version} (openssl s_time -new)"
                references[name] = "openssl s_server -Verify 1"
                ours = handshake_rate(server, version, handshake_seconds, files)
                then = handshake_rate(old, version, handshake_seconds, files) if old else None
                results[name].append((ours, handshake_rate(openssl, version, handshake_seconds, files), then))
    _table(results, references)


def memory(files: Files, folder: Path, requests: int) -> None:
    with frontend(files, folder / "memory-events.jsonl") as fe:
        warm = subprocess.run([sys.executable, __file__, "--client", str(fe.port), "50", "0", str(files.client),
                               str(files.ca), "--count", "5000"], capture_output=True, text=True, check=True)
        assert warm.returncode == 0
        before = _rss_kib(fe.process.pid)
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--client", str(fe.port), "50", "0", str(files.client), str(files.ca),
                        "--count", str(requests)], capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - started
        after = _rss_kib(fe.process.pid)
        lines = sum(1 for _ in (folder / "memory-events.jsonl").open())
    print(f"\nmemory: {requests} more OPTIONS answered in {elapsed:.1f} s; Front End RSS {before / 1024:.1f} MiB "
          f"-> {after / 1024:.1f} MiB (growth {(after - before) / 1024:.1f} MiB); {lines} records in its JSONL file")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per OPTIONS measurement")
    parser.add_argument("--handshake-seconds", type=int, default=3, help="seconds per s_time run")
    parser.add_argument("--memory", type=int, metavar="N", nargs="?", const=200_000,
                        help="also measure the RSS growth over N more requests (default 200000)")
    parser.add_argument("--no-rates", action="store_true", help="skip the rates (with --memory)")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also measure the Front End of another checkout in the same rounds "
                             "(e.g. git worktree add /tmp/before HEAD~5)")
    # Internal: this script runs the reference server and the clients as processes of their own.
    parser.add_argument("--serve-minimal", nargs=4, metavar=("PORT", "CERT", "KEY", "CA"), help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=5, metavar=("PORT", "CONNS", "SECONDS", "PEM", "CA"), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_minimal:
        port, cert, key, ca = args.serve_minimal
        serve_minimal(int(port), cert, key, ca)
        return 0
    if args.client:
        port, connections, seconds, pem, ca = args.client
        run_client(int(port), int(connections), float(seconds), pem, ca, args.count)
        return 0
    with tempfile.TemporaryDirectory(prefix="ucclab-bench-") as tmp:
        folder = Path(tmp)
        files = make_files(folder)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
        if not args.no_rates:
            measure(files, folder, args.rounds, args.seconds, args.handshake_seconds, args.baseline)
        if args.memory:
            memory(files, folder, args.memory)
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

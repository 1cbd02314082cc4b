"""The Java probe: the UC Connector's TLS and Kerberos behaviour on the JDK's own stacks.

The UC Connector is a Java program, so SunJSSE decides whether its key and trust stores
work and JGSS whether its Kerberos login works. :mod:`harness.connector` imitates them in
Python; the probe (``harness/java/UccProbe.java``) is the real thing: it takes the
connector's Command Line Arguments as the page writes them, maps them onto JSSE as a plain
Java server does and talks to the Front End. See the Java source's header for its rules
(argument reading, store mapping, endpoint identification). The connector host's two
settings reach it as they reach the Python stand-in: ``java_security`` (overrides of the
JDK's ``java.security``, passed as ``-Djava.security.properties=FILE``) and
``endpoint_identification`` (``"HTTPS"``, default None: no name check). In a minute::

    result = await probe_register(frontend=("127.0.0.1", fe_port), frontend_fqdn="fe01.companya.com",
                                  ucc_fqdn="ucc01.companya.com", arguments=app.command_line_arguments,
                                  files=lab.artifacts_dir)
    result.outcome, result.json["tls"], result.json["responses"], result.json["error"]

    async with await start_probe_listener(ucc_fqdn="ucc01.companya.com", arguments=...,
                                          files=lab.artifacts_dir) as listener:
        await frontend.push_to_connector("127.0.0.1", listener.port, server_name="ucc01.companya.com")
        report = await listener.result()          # report.json["connections"]

    (await probe_security(java_security={"jdk.tls.disabledAlgorithms": "RC4"})).json["protocols"]

The sources are compiled once per source version with ``javac`` into a cache folder
(:func:`ensure_compiled`), as classes in a jar, and each probe is one ``java`` process
printing one JSON line (``listen`` prints ``{"listening": PORT}`` first). The first run of
each kind (``register``, ``login``, ``listen`` ...) on a JDK leaves a class-data archive of
what it loaded in the same folder (JDK 17's AppCDS, ``-XX:ArchiveClassesAtExit``), which the
later runs of that kind map instead of loading and verifying those classes again: JSSE's and
JGSS's classes are most of a probe's start (measured here, ``ucclab replay all --client
java`` 1.87 s → 1.68 s wall and 2.12 → 1.87 s of CPU, medians of 5 alternated runs). The archive changes no behaviour: the
classes are the JDK's own, parsed ahead. Java must be installed (Debian:
``openjdk-17-jdk-headless``); :class:`JavaUnavailableError` says so when it is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .connector import format_properties

__all__ = [
    "SOURCE_DIR",
    "JavaUnavailableError",
    "ProbeError",
    "ProbeUsageError",
    "ProbeResult",
    "ProbeListener",
    "java_available",
    "ensure_compiled",
    "run_probe",
    "probe_register",
    "start_probe_listener",
    "probe_login",
    "probe_security",
]

SOURCE_DIR = Path(__file__).resolve().parent / "java"
MAIN_CLASS = "UccProbe"
# The compiled classes as one jar: JDK 17 archives application classes from jars only.
JAR_NAME = "probe.jar"
# The JVM writes its log warnings to stdout, where the probe's report goes: they go to
# stderr, and the class-data archives' (a dump skips some classes with a warning each) nowhere.
_JVM_LOG = ("-Xlog:disable", "-Xlog:all=warning:stderr", "-Xlog:cds*=off:stderr")
# A probe lives well under a second: the serial collector and the C1 compiler only start
# faster. Measured here, a register run goes from ~0.49 s to ~0.34 s of wall time.
JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
# How long a probe process may outlive its own --timeout (JVM start, Kerberos retries).
PROCESS_MARGIN = 20.0
_INSTALL_HINT = "install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"

_compile_lock = threading.Lock()


class JavaUnavailableError(RuntimeError):
    """``java`` or ``javac`` is not installed (neither under ``$JAVA_HOME/bin`` nor on PATH)."""


class ProbeError(RuntimeError):
    """The probe gave no report: it did not compile, died without a JSON line, or timed out."""


class ProbeUsageError(ProbeError):
    """The probe was called wrongly (its exit status 2): a defect of the caller."""


@dataclass(frozen=True)
class ProbeResult:
    """One probe run: its JSON report, what it wrote on stderr, its exit status.

    ``json["outcome"]`` is "confirmed" (every request answered 2xx; for ``login`` also the
    Front End's rspauth verified), "rejected" (a final non-2xx, or a connection to the
    Secured port refused) or "error" (``json["error"]`` holds the phase, Java's exception
    class and message and its causes). A ``listen`` report is the server side's evidence;
    a ``register`` or ``login`` report is the client's view only. ``returncode`` is 0, or 1
    when the probe itself failed (a defect: ``json["error"]["phase"] == "probe"``).
    """

    json: dict[str, Any]
    stderr: str
    returncode: int

    @property
    def outcome(self) -> str | None:
        """The report's outcome (None for the ``arguments`` command)."""
        return self.json.get("outcome")

    @property
    def error(self) -> dict[str, Any] | None:
        """The report's error: ``phase``, ``exception``, ``message``, ``causes``; None if none."""
        return self.json.get("error")


def _tool(name: str) -> str | None:
    """``$JAVA_HOME/bin/NAME`` when JAVA_HOME is set (the lab's rule for the JDK), else NAME on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / name
        return str(candidate) if os.access(candidate, os.X_OK) else None
    return shutil.which(name)


def _require_tool(name: str) -> str:
    path = _tool(name)
    if path is None:
        raise JavaUnavailableError(f"{name} is not installed: {_INSTALL_HINT}")
    return path


def java_available() -> bool:
    """Whether both ``java`` and ``javac`` can be found."""
    return _tool("java") is not None and _tool("javac") is not None


def _sources() -> list[Path]:
    return sorted(SOURCE_DIR.glob("*.java"))


def source_digest() -> str:
    """A digest of the probe's sources: the cache key of their compiled classes."""
    digest = hashlib.sha256(f"{JAR_NAME}\0".encode())  # the folder's layout: classes in a jar
    for source in _sources():
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ucclab"


def ensure_compiled(cache_dir: Path | None = None) -> Path:
    """The folder holding the compiled probe, compiling it first if needed.

    The folder is ``CACHE/java-<digest of the sources>`` under ``cache_dir`` (default
    ``$XDG_CACHE_HOME/ucclab``, else ``~/.cache/ucclab``) and holds the classes and their
    jar (:data:`JAR_NAME`). ``javac`` writes into a private temporary folder, where the jar
    is made, then renamed into place, so threads and processes (pytest-xdist workers) that
    race here all end up using one complete folder. Raises :class:`JavaUnavailableError`
    without a JDK and :class:`ProbeError` if ``javac`` fails.
    """
    root = cache_dir if cache_dir is not None else _default_cache_root()
    final = root / f"java-{source_digest()}"
    if (final / JAR_NAME).is_file():
        return final
    javac = _require_tool("javac")
    with _compile_lock:
        if (final / JAR_NAME).is_file():
            return final
        root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
        try:
            done = subprocess.run(
                [javac, "--release", "17", "-encoding", "UTF-8", "-nowarn", "-d", str(building), *map(str, _sources())],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0:
                raise ProbeError(f"javac failed on {SOURCE_DIR}:\n{done.stderr or done.stdout}")
            with zipfile.ZipFile(building / JAR_NAME, "w") as jar:
                for compiled in sorted(building.glob("*.class")):
                    jar.write(compiled, compiled.name)
            try:
                os.rename(building, final)
            except OSError:
                # Another process renamed its build into place first: use that one.
                if not (final / JAR_NAME).is_file():
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return final


class _ClassArchive:
    """The class-data archive of one kind of probe run (its first argument) on this JDK, in
    the compiled folder: its JVM options, and once the run is over, :meth:`keep` puts the
    archive a first run wrote into place.

    The archive is keyed by the JDK (its ``java``, ``libjvm.so`` and base archive
    ``classes.jsa``: path, size, time): another JDK, or the same one with its base archive
    made again (a dynamic archive holds only on the base it was made on), makes its own. A first run writes to a name of its own, and the archive is kept only when that
    run ended normally and the JVM maps it (``-Xshare:on``): JDK 17 dies of SIGBUS on a
    truncated archive instead of ignoring it. Processes that race make one archive each;
    the last rename wins, and each is whole.
    """

    def __init__(self, java: str, folder: Path, kind: str) -> None:
        self._java, self._jar = java, folder / JAR_NAME
        binary = Path(java).resolve()
        server = binary.parent.parent / "lib" / "server"
        identity = hashlib.sha256()
        for part in (binary, server / "libjvm.so", server / "classes.jsa"):
            with contextlib.suppress(OSError):  # a JDK laid out otherwise: what there is
                stat = part.stat()
                identity.update(f"{part}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        key = identity.hexdigest()[:12]
        self.path = folder / f"{kind}-{key}.jsa"
        #: Where this run writes its archive (None: it maps the one there is).
        self.writing: Path | None = None
        if self.path.is_file():
            self.options = [f"-XX:SharedArchiveFile={self.path}"]
        elif os.access(folder, os.W_OK):
            self.writing = folder / f".{self.path.name}.{uuid.uuid4().hex}"
            self.options = [f"-XX:ArchiveClassesAtExit={self.writing}"]
        else:
            # A JVM that cannot write its archive at exit fails the run ("Unable to use
            # shared archive", exit status 1): a cache this user may only read gets none.
            self.options = []

    def keep(self, returncode: int | None) -> None:
        """After the run: keep what it wrote if the run ended normally and the JVM maps it."""
        writing, self.writing = self.writing, None  # once
        if writing is None:
            return
        try:
            if returncode is not None and returncode >= 0 and writing.is_file():
                check = subprocess.run(
                    [self._java, *JVM_OPTIONS, *_JVM_LOG, "-Xshare:on", f"-XX:SharedArchiveFile={writing}",
                     f"-XX:ErrorFile={writing}.crash", "-XX:-CreateCoredumpOnCrash", "-cp", str(self._jar),
                     "-version"],
                    capture_output=True, timeout=60, check=False)
                if check.returncode == 0:
                    os.replace(writing, self.path)
        except (OSError, subprocess.TimeoutExpired):
            pass  # not kept: the next run of this kind writes one again
        finally:
            for leftover in (writing, writing.with_name(writing.name + ".crash")):
                leftover.unlink(missing_ok=True)


def _command_line(java: str, folder: Path, archive: _ClassArchive, command: Sequence[str],
                  security_file: Path | None) -> list[str]:
    # One "=": the file's properties replace the JDK's, the rest of java.security stays
    # (java.security's security.overridePropertiesFile=true allows it).
    security = [f"-Djava.security.properties={security_file}"] if security_file is not None else []
    return [java, *JVM_OPTIONS, *_JVM_LOG, *archive.options, *security, "-cp", str(folder / JAR_NAME), MAIN_CLASS,
            *command]


class _SecurityFile:
    """``java_security`` overrides as a properties file in a private folder, for the JVM's
    ``-Djava.security.properties``; removed with :meth:`remove` (None: no file)."""

    def __init__(self, java_security: Mapping[str, str] | None) -> None:
        self._folder: Path | None = None
        self.path: Path | None = None
        if java_security:
            self._folder = Path(tempfile.mkdtemp(prefix="ucclab-java-security-"))
            self.path = self._folder / "java.security"
            self.path.write_text(format_properties(java_security), encoding="iso-8859-1")

    def remove(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = self.path = None


def _parse_report(stdout: bytes, stderr: str, returncode: int | None, command: Sequence[str]) -> ProbeResult:
    """The last stdout line as the report; :class:`ProbeError` when there is none."""
    lines = [line for line in stdout.decode("utf-8", "replace").splitlines() if line.strip()]
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        raise ProbeError(
            f"the probe ({command[0] if command else '?'}) exited with status {returncode} and no JSON report; "
            f"stdout: {stdout[-500:]!r}; stderr: {stderr[-2000:]}"
        )
    if returncode == 2:
        raise ProbeUsageError(f"bad probe usage: {report.get('usage_error')} ({' '.join(command[:1])})")
    return ProbeResult(report, stderr, returncode if returncode is not None else -1)


async def _spawn(command: Sequence[str], cache_dir: Path | None,
                 security: _SecurityFile) -> tuple[asyncio.subprocess.Process, _ClassArchive]:
    folder = await asyncio.to_thread(ensure_compiled, cache_dir)
    java = _require_tool("java")
    kind = command[0] if command and re.fullmatch(r"[a-z][a-z-]{0,30}", command[0]) else "other"
    archive = _ClassArchive(java, folder, kind)
    process = await asyncio.create_subprocess_exec(
        *_command_line(java, folder, archive, command, security.path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return process, archive


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Kill ``process`` if it still runs, and wait for it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()


async def run_probe(command: Sequence[str], *, timeout: float, cache_dir: Path | None = None,
                    java_security: Mapping[str, str] | None = None) -> ProbeResult:
    """Run ``java UccProbe COMMAND...`` and return its report.

    ``timeout`` bounds the whole process (JVM start included); when it passes, the process
    is killed and :class:`ProbeError` raised. ``java_security`` overrides properties of the
    JDK's java.security. Raises :class:`ProbeUsageError` for bad usage and
    :class:`JavaUnavailableError` without a JDK.
    """
    security = _SecurityFile(java_security)
    try:
        process, archive = await _spawn(command, cache_dir, security)
        try:
            async with asyncio.timeout(timeout):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            raise ProbeError(f"the probe ({command[0]}) did not finish within {timeout} s") from None
        finally:
            await _reap(process)
            await asyncio.to_thread(archive.keep, process.returncode)
    finally:
        security.remove()
    return _parse_report(stdout, stderr.decode("utf-8", "replace"), process.returncode, command)


def _common_options(arguments: str, files: Path | None, ucc_fqdn: str, timeout: float) -> list[str]:
    options = ["--args", arguments, "--ucc-fqdn", ucc_fqdn, "--timeout", str(timeout)]
    if files is not None:
        options += ["--files", str(files)]
    return options


def _endpoint_option(endpoint_identification: str | None) -> list[str]:
    return ["--endpoint-identification", endpoint_identification or "none"]


async def probe_register(
    *,
    frontend: tuple[str, int],
    frontend_fqdn: str,
    ucc_fqdn: str,
    arguments: str,
    files: Path | None,
    timeout: float = 10.0,
    cache_dir: Path | None = None,
    java_security: Mapping[str, str] | None = None,
    endpoint_identification: str | None = None,
) -> ProbeResult:
    """Connector → Front End over MTLS: OPTIONS then REGISTER, as the Java connector.

    ``arguments`` is the Application object's Command Line Arguments; ``files`` the folder
    holding the files its paths name (by file name); ``timeout`` bounds the connection and
    each answer; ``java_security`` and ``endpoint_identification`` are the connector host's
    settings. The report is the client's view: judge by the Front End's event log.
    """
    host, port = frontend
    command = ["register", "--frontend", f"{host}:{port}", "--frontend-fqdn", frontend_fqdn,
               *_common_options(arguments, files, ucc_fqdn, timeout), *_endpoint_option(endpoint_identification)]
    return await run_probe(command, timeout=timeout + PROCESS_MARGIN, cache_dir=cache_dir, java_security=java_security)


async def probe_login(
    *,
    frontend: tuple[str, int],
    frontend_fqdn: str,
    ucc_fqdn: str,
    arguments: str,
    files: Path | None,
    principal: str,
    password: str,
    realm: str | None = None,
    timeout: float = 10.0,
    cache_dir: Path | None = None,
    java_security: Mapping[str, str] | None = None,
    endpoint_identification: str | None = None,
) -> ProbeResult:
    """TLS/Kerberos: JAAS login as ``principal`` with the ``Microsoft-OCS`` password, then
    the MS-SIPAE REGISTER (challenge, AP-REQ for the challenge's targetname, signed
    REGISTER, rspauth verified).

    ``arguments`` carries ``-krb_conf_file`` and the trust store (``-cert_store_file/
    -cert_store_pass``); ``realm`` is appended to a principal without one (otherwise
    krb5.conf's ``default_realm`` applies). The password is passed on the probe's command
    line, like the store passwords in ``arguments``. ``java_security`` and
    ``endpoint_identification`` as for :func:`probe_register`.
    """
    host, port = frontend
    command = ["login", "--frontend", f"{host}:{port}", "--frontend-fqdn", frontend_fqdn,
               *_common_options(arguments, files, ucc_fqdn, timeout),
               "--principal", principal, "--password", password, *_endpoint_option(endpoint_identification)]
    if realm is not None:
        command += ["--realm", realm]
    return await run_probe(command, timeout=timeout + PROCESS_MARGIN, cache_dir=cache_dir, java_security=java_security)


async def probe_security(*, java_security: Mapping[str, str] | None = None, timeout: float = 30.0,
                         cache_dir: Path | None = None) -> ProbeResult:
    """The JDK's policy under ``java_security``: ``json["java_version"]``, ``json["java_security"]``
    (the disabled-algorithm properties in force) and ``json["protocols"]`` (``client``/``server``:
    the TLS versions a default SSLContext enables)."""
    return await run_probe(["security"], timeout=timeout, cache_dir=cache_dir, java_security=java_security)


class ProbeListener:
    """A running ``listen`` probe: the connector's Secured SIP port on ``127.0.0.1:port``.

    ``port`` is None when the probe could not listen (its report, from :meth:`result`,
    says why: a store Java cannot load, a port in use). Use as an async context manager,
    or call :meth:`close`, so the process never outlives the caller.
    """

    def __init__(self, process: asyncio.subprocess.Process, archive: _ClassArchive, command: Sequence[str],
                 port: int | None, first_line: bytes, deadline: float) -> None:
        self.port = port
        self._process = process
        self._archive = archive
        self._command = list(command)
        self._first_line = first_line
        self._deadline = deadline
        self._stderr = asyncio.ensure_future(process.stderr.read()) if process.stderr else None
        self._result: ProbeResult | None = None

    async def result(self) -> ProbeResult:
        """Wait for the probe to finish (``count`` connections served, or its timeout) and return its report."""
        if self._result is None:
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(max(self._deadline - loop.time(), 0.1)):
                    assert self._process.stdout is not None
                    rest = await self._process.stdout.read()
                    await self._process.wait()
                await asyncio.to_thread(self._archive.keep, self._process.returncode)
            except TimeoutError:
                await self.close()
                raise ProbeError(f"the listening probe did not finish by its deadline ({self._command[0]})") from None
            stderr = (await self._stderr).decode("utf-8", "replace") if self._stderr else ""
            self._result = _parse_report(self._first_line + rest, stderr, self._process.returncode, self._command)
        return self._result

    async def close(self) -> None:
        """Stop the probe if it still runs."""
        await _reap(self._process)
        await asyncio.to_thread(self._archive.keep, self._process.returncode)
        if self._stderr is not None and not self._stderr.done():
            self._stderr.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


async def start_probe_listener(
    *,
    ucc_fqdn: str,
    arguments: str,
    files: Path | None,
    port: int = 0,
    count: int = 1,
    timeout: float = 30.0,
    cache_dir: Path | None = None,
    java_security: Mapping[str, str] | None = None,
    bind: str | None = None,
) -> ProbeListener:
    """Start the connector's Secured SIP port on the JDK (MTLS server, client certificate required).

    Returns once the probe accepts connections (or has given up: ``listener.port`` is then
    None). It answers OPTIONS/NOTIFY/SUBSCRIBE with 200 and ends after ``count``
    connections or ``timeout`` seconds; ``port=0`` lets the OS pick one; ``java_security``
    overrides properties of the JDK's java.security; ``bind`` is the address it listens on
    (default: loopback).
    """
    command = ["listen", "--port", str(port), "--count", str(count), *(["--bind", bind] if bind else []),
               *_common_options(arguments, files, ucc_fqdn, timeout)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout + PROCESS_MARGIN
    security = _SecurityFile(java_security)
    try:
        process, archive = await _spawn(command, cache_dir, security)
        try:
            assert process.stdout is not None
            async with asyncio.timeout(PROCESS_MARGIN + 5):
                first = await process.stdout.readline()
        except BaseException:
            await _reap(process)
            await asyncio.to_thread(archive.keep, process.returncode)
            raise
    finally:
        # The JVM reads java.security once, before its SSLContext exists: by its first line
        # (listening, or the report of why not) the file has served.
        security.remove()
    try:
        ready = json.loads(first)
    except ValueError:
        ready = None
    listening = ready.get("listening") if isinstance(ready, dict) else None
    if isinstance(listening, int):
        return ProbeListener(process, archive, command, listening, b"", deadline)
    return ProbeListener(process, archive, command, None, first, deadline)

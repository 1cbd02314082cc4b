"""The KDC stand-in as a process: :class:`KdcCore` on UDP and TCP (RFC 4120 §7.2).

In a lab::

    server = KdcServer([Account("ocs-ucc", password), frontend_account], realm="COMPANYA.COM")
    await server.start()                 # 127.0.0.1, one free port for UDP and TCP
    ... server.port, server.events ...
    await server.close()

Alone: ``python -m fakes.kdc --realm COMPANYA.COM --account ocs-ucc:PASSWORD
--account fe01svc:PASSWORD:sip/fe01.companya.com`` (or ``--accounts accounts.json``)
prints ``{"realm", "host", "udp_port", "tcp_port"}`` as one JSON line on stdout and serves
until SIGINT or SIGTERM, logging each request on stderr.

The shell only moves bytes: one datagram is one request; over TCP each message has a
4-byte big-endian length, a length with the high bit set or beyond ``max_tcp_request``
gets KRB_ERR_FIELD_TOOLONG and the connection is closed (MIT does the same, measured), as
it is when the core drops a request.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import signal
import struct
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from fakes._evidence import EvidenceLog

from ._accounts import Account
from ._core import KdcCore, KdcEvent

__all__ = ["KdcServer", "main", "parse_account_spec", "load_accounts_file", "DEFAULT_MAX_TCP_REQUEST"]

log = logging.getLogger("fakes.kdc")

#: Longest TCP request accepted (MIT's krb5kdc accepts at least 70 000 bytes and refuses
#: 1 MiB, measured; AD's MaxTokenSize is 48 000). Kerberos requests without PKINIT are
#: far smaller.
DEFAULT_MAX_TCP_REQUEST = 256 * 1024
_TCP_IDLE_TIMEOUT = 30.0  # seconds a TCP client may sit between or inside requests
_BIND_ATTEMPTS = 20  # tries at finding a port number free for both UDP and TCP


class _UdpKdc(asyncio.DatagramProtocol):
    def __init__(self, core: KdcCore) -> None:
        self.core = core
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.core.handle(data, transport="udp", peer=f"{addr[0]}:{addr[1]}")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to answer.
        log.debug("UDP error: %s", exc)


class KdcServer:
    """A KDC on 127.0.0.1 (by default), UDP and TCP on the same port number when possible.

    ``core`` is a ready :class:`KdcCore`, or the accounts to build one for ``realm``.
    """

    def __init__(self, core: KdcCore | Iterable[Account], *, realm: str = "COMPANYA.COM",
                 max_tcp_request: int = DEFAULT_MAX_TCP_REQUEST, event_log_path: Path | None = None) -> None:
        self.core = core if isinstance(core, KdcCore) else KdcCore(realm, core)
        #: The KDC's evidence: one record per request, its ``type`` the request's kind
        #: (``AS-REQ``, ``TGS-REQ``, ``malformed``, ...), ``time`` the DC's clock.
        self.evidence = EvidenceLog(now=time.time, path=event_log_path)
        self.core.on_event = self._record
        self.max_tcp_request = max_tcp_request
        self.host = ""
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._udp_port: int | None = None
        self._tcp_port: int | None = None

    @property
    def realm(self) -> str:
        """The realm the KDC serves (upper case)."""
        return self.core.realm

    def _record(self, event: KdcEvent) -> None:
        fields = event.to_dict()
        del fields["time"]
        self.evidence.record(event.request, time=event.time.timestamp(), **fields)

    @property
    def events(self) -> list[KdcEvent]:
        """The core's event log, oldest first (a copy)."""
        return list(self.core.events)

    @property
    def udp_port(self) -> int:
        """The UDP port (raises before :meth:`start`)."""
        if self._udp_port is None:
            raise RuntimeError("the KDC is not started")
        return self._udp_port

    @property
    def tcp_port(self) -> int:
        """The TCP port (raises before :meth:`start`)."""
        if self._tcp_port is None:
            raise RuntimeError("the KDC is not started")
        return self._tcp_port

    @property
    def port(self) -> int:
        """The port number UDP and TCP share (a krb5.conf ``kdc = host:port`` line)."""
        if self.udp_port != self.tcp_port:
            raise RuntimeError(f"UDP ({self.udp_port}) and TCP ({self.tcp_port}) listen on different ports")
        return self.udp_port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host``:``port``; with port 0, on a free port number for both transports."""
        if self._tcp is not None:
            raise RuntimeError("the KDC is already started")
        loop = asyncio.get_running_loop()
        attempts = _BIND_ATTEMPTS if port == 0 else 1
        for attempt in range(attempts):
            tcp = await asyncio.start_server(self._serve_tcp, host, port)
            tcp_port = tcp.sockets[0].getsockname()[1]
            try:
                udp, _ = await loop.create_datagram_endpoint(lambda: _UdpKdc(self.core), local_addr=(host, tcp_port))
            except OSError as exc:
                tcp.close()
                await tcp.wait_closed()
                # The OS gave a TCP port whose UDP twin is taken: try another.
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
                continue
            break
        self._tcp, self._udp = tcp, udp
        self._tcp_port = tcp_port
        self._udp_port = udp.get_extra_info("sockname")[1]
        self.host = host
        log.info("KDC for %s listening on %s port %d (UDP and TCP)", self.realm, host, self._udp_port)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = cast("asyncio.Task[None]", asyncio.current_task())
        self._connections.add(task)
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else None
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(4), _TCP_IDLE_TIMEOUT)
                (length,) = struct.unpack(">I", header)
                # RFC 4120 §7.2.2: the high bit is reserved; either way the length is refused.
                if length > self.max_tcp_request:
                    reply = self.core.field_too_long(length, transport="tcp", peer=peer)
                    writer.write(struct.pack(">I", len(reply)) + reply)
                    await writer.drain()
                    return
                request = await asyncio.wait_for(reader.readexactly(length), _TCP_IDLE_TIMEOUT)
                reply = self.core.handle(request, transport="tcp", peer=peer)
                if reply is None:
                    return  # a dropped request closes the connection, as with MIT
                writer.write(struct.pack(">I", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass  # the client went away, stalled or sent a partial message: just close
        finally:
            self._connections.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass  # reset by the peer while closing

    async def close(self) -> None:
        """Stop listening and end open TCP connections."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._tcp.wait_closed()
            self._tcp = None
        self.evidence.close()

    async def __aenter__(self) -> KdcServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


# -- command line -----------------------------------------------------------------------------

def parse_account_spec(spec: str) -> Account:
    """``NAME:PASSWORD[:SPN,SPN...]`` → :class:`Account` (a password may not contain ``:``
    here; use an accounts file for that)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"--account takes NAME:PASSWORD[:SPN,...], got {spec!r}")
    spns = tuple(s for s in parts[2].split(",") if s) if len(parts) == 3 else ()
    return Account(parts[0], parts[1], spns=spns)


_ACCOUNT_FIELDS = {"sam_account_name", "password", "upn", "spns", "use_des_key_only",
                   "dont_require_preauth", "enabled", "enctypes", "kvno"}


def load_accounts_file(path: Path) -> list[Account]:
    """Accounts from a JSON list of objects with :class:`Account`'s field names."""
    data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of accounts")
    accounts = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: account #{index + 1} is not an object")
        unknown = set(item) - _ACCOUNT_FIELDS
        if unknown:
            raise ValueError(f"{path}: account #{index + 1} has unknown fields {sorted(unknown)}")
        try:
            accounts.append(Account(**item))
        except TypeError as exc:
            raise ValueError(f"{path}: account #{index + 1}: {exc}") from exc
    return accounts


async def _serve(server: KdcServer, host: str, port: int) -> int:
    await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps({"realm": server.realm, "host": host, "udp_port": server.udp_port,
                      "tcp_port": server.tcp_port}), flush=True)
    accounts = ", ".join(a.sam_account_name for a in server.core.directory.accounts)
    print(f"KDC for {server.realm} on {host} port {server.udp_port} (UDP and TCP); accounts: {accounts}",
          file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.kdc",
        description="Active Directory KDC stand-in: AS and TGS exchanges over UDP and TCP.",
    )
    parser.add_argument("--realm", default="COMPANYA.COM", help="the realm (default: COMPANYA.COM)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port for UDP and TCP (default: 0, a free port)")
    parser.add_argument("--account", action="append", default=[], metavar="NAME:PASSWORD[:SPN,...]",
                        help="an account; repeatable")
    parser.add_argument("--accounts", type=Path, metavar="FILE",
                        help="a JSON list of accounts (fields as fakes.kdc.Account)")
    parser.add_argument("--use-des-key-only", action="append", default=[], metavar="NAME",
                        help='set "Use Kerberos DES encryption for this account" on NAME; repeatable')
    parser.add_argument("--dont-require-preauth", action="append", default=[], metavar="NAME",
                        help='set "Do not require Kerberos preauthentication" on NAME; repeatable')
    return parser


def _accounts_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Account]:
    try:
        accounts = [parse_account_spec(spec) for spec in args.account]
        if args.accounts is not None:
            accounts += load_accounts_file(args.accounts)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    names = {a.sam_account_name.lower() for a in accounts}
    for option, names_given in (("--use-des-key-only", args.use_des_key_only),
                                ("--dont-require-preauth", args.dont_require_preauth)):
        missing = [n for n in names_given if n.lower() not in names]
        if missing:
            parser.error(f"{option}: no account named {', '.join(missing)}")
    des = {n.lower() for n in args.use_des_key_only}
    no_preauth = {n.lower() for n in args.dont_require_preauth}
    return [_with_options(a, a.sam_account_name.lower() in des, a.sam_account_name.lower() in no_preauth)
            for a in accounts]


def _with_options(account: Account, des_only: bool, no_preauth: bool) -> Account:
    return replace(account, use_des_key_only=account.use_des_key_only or des_only,
                   dont_require_preauth=account.dont_require_preauth or no_preauth)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the KDC alone until SIGINT/SIGTERM; returns the exit status.

    0 after a clean stop, 1 if it cannot listen, 2 for bad usage or unusable accounts.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    accounts = _accounts_from(parser, args)
    try:
        server = KdcServer(KdcCore(args.realm, accounts))
    except ValueError as exc:
        print(f"kdc: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return asyncio.run(_serve(server, args.host, args.port))
    except OSError as exc:
        print(f"kdc: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

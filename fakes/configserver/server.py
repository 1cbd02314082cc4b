"""The Configuration Server stand-in as a process: its database plus the GAX API on a port.

In a lab::

    server = ConfigServer(workdir / "confserv.db", users={"default": lab_password})
    await server.start()            # 127.0.0.1, a free port
    ... server.url, server.store ...
    await server.close()

Alone: ``python -m fakes.configserver --db PATH [--host H] [--port P] [--user NAME:PASSWORD]...``
prints the URL on stdout and serves until SIGINT or SIGTERM. There is no built-in account:
the accounts come from ``--user`` (seen by every local user in the process list), else from
``$UCCLAB_CONFIGSERVER_USER`` (``NAME:PASSWORD``), else the server makes up a password for
``default`` and prints it on stderr, once — the only place it is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from aiohttp import web

from .._cli import log_to_stderr, port_number
from ._store import ConfigStore, StoreError
from .api import DEFAULT_MAX_BODY, create_app

__all__ = ["ConfigServer", "main", "USER_ENV"]

log = logging.getLogger(__name__)

USER_ENV = "UCCLAB_CONFIGSERVER_USER"
# The Master Account name of a fresh real Configuration Server (Genesys Framework 8.5
# Deployment Guide, "Standard Login": user name default, password password); here it gets
# a password of its own.
GENERATED_USER = "default"


class ConfigServer:
    """A Configuration Server: the database at ``db_path`` served over the GAX JSON API.

    The database is opened here, so a damaged file fails at once with a
    :class:`~fakes.configserver.StoreError` naming it. ``users`` maps user name → password:
    the accounts that may log in (at least one; there is no default account, as the
    database holds the UC Connector's AD password). ``store`` gives in-process access to
    the same objects.
    """

    def __init__(
        self,
        db_path: Path,
        *,
        users: Mapping[str, str],
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.store = ConfigStore(db_path)
        try:
            self._app = create_app(self.store, users=users, max_body=max_body)
        except BaseException:
            self.store.close()
            raise
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host``:``port`` (0: a free port the OS picks)."""
        if self._runner is not None:
            raise RuntimeError("the Configuration Server is already started")
        runner = web.AppRunner(self._app)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = runner.addresses[0][1]
        log.info("Configuration Server serving %s (database %s)", self.url, self.store.path)

    @property
    def port(self) -> int:
        """The TCP port the API listens on."""
        if self._port is None:
            raise RuntimeError("the Configuration Server is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:PORT/``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/"

    async def close(self) -> None:
        """Stop listening and close the database."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.store.close()

    async def __aenter__(self) -> ConfigServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _parse_user(spec: str, where: str) -> tuple[str, str]:
    """``NAME:PASSWORD`` as a pair; :class:`ValueError` naming ``where`` (never the password)."""
    name, sep, password = spec.partition(":")
    if not sep or not name or not password:
        shown = f"{name}:..." if sep else "a value without ':'"
        raise ValueError(f"{where} takes NAME:PASSWORD with both non-empty, got {shown}")
    try:  # bytes that are not UTF-8 reach argv and the environment as lone surrogates
        spec.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{where}: NAME:PASSWORD must be UTF-8 text") from None
    return name, password


def _accounts(parser: argparse.ArgumentParser, specs: list[str] | None) -> tuple[dict[str, str], str | None]:
    """The accounts from ``--user``, else ``$UCCLAB_CONFIGSERVER_USER``, else a generated
    one — then also the line that tells its password, to print once the server serves."""
    try:
        if specs:
            return dict(_parse_user(spec, "--user") for spec in specs), None
        if os.environ.get(USER_ENV):
            return dict([_parse_user(os.environ[USER_ENV], f"${USER_ENV}")]), None
    except ValueError as exc:
        parser.error(str(exc))
    password = secrets.token_urlsafe(16)
    note = (
        f"no --user or ${USER_ENV} given: this run's account is {GENERATED_USER!r} with password "
        f"{password} (shown once, here only)"
    )
    return {GENERATED_USER: password}, note


async def _serve(db: Path, host: str, port: int, users: dict[str, str], account_note: str | None) -> int:
    server = ConfigServer(db, users=users)
    try:
        await server.start(host, port)
    except BaseException:
        server.store.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(server.url, flush=True)
    print(f"Configuration Server (GAX API) at {server.url}, its console at {server.url}gax/, database {db}",
          file=sys.stderr, flush=True)
    if account_note is not None:
        print(f"configserver: {account_note}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the Configuration Server alone until SIGINT/SIGTERM; returns the exit status.

    0 after a clean stop, 1 if it cannot listen, 2 for bad usage or an unusable database.
    """
    parser = argparse.ArgumentParser(
        prog="python -m fakes.configserver",
        description="Genesys Configuration Server stand-in: Application objects over a GAX-style JSON API. "
        "Prints its URL on stdout once it serves; serves until SIGINT or SIGTERM.",
        epilog=f"Accounts: there is no built-in login. They come from --user, else from ${USER_ENV} "
        f"(NAME:PASSWORD, kept out of the process list), else the server makes up a password for "
        f"{GENERATED_USER!r} and prints it on stderr, once. Log in with POST /gax/api/session/login "
        '{"username": ..., "password": ...}. '
        "Exit status: 0 after a clean stop, 1 if it cannot listen, 2 for bad usage or an unusable database.",
    )
    parser.add_argument(
        "--db", type=Path, required=True, help="SQLite database file (created if missing, mode 0600)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=0, help="port to listen on (default: 0, a free port)")
    parser.add_argument(
        "--user",
        action="append",
        metavar="NAME:PASSWORD",
        help="an account that may log in; repeatable. Other local users can read it in the "
        f"process list: prefer ${USER_ENV}",
    )
    args = parser.parse_args(argv)
    users, account_note = _accounts(parser, args.user)
    log_to_stderr()
    try:
        return asyncio.run(_serve(args.db, args.host, args.port, users, account_note))
    except StoreError as exc:
        print(f"configserver: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"configserver: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

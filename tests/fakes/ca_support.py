"""Helpers for the CA tests: certsrv (and its CertEnroll site) on a background event loop.

:class:`ServerThread` runs a :class:`~fakes.ca.CertsrvServer` on its own loop in a
thread, as another process would, so blocking clients (the ``certsrv`` package,
requests, openssl, Chromium) and the test body can all talk to it. With it runs the CA's
admin API (:func:`fakes.ca.admin.ca_admin` behind an :class:`~fakes._admin.AdminServer`),
driven over HTTP by :meth:`ServerThread.admin`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import requests

from fakes._admin import AdminServer
from fakes.ca import CertificationAuthority, CertsrvServer
from fakes.ca.admin import ca_admin

T = TypeVar("T")

USER, PASSWORD = "enroll", "Pa55w.rd-enroll"
ADMIN_TOKEN = "ca-admin-token-0123456789"


class ServerThread:
    """A CertsrvServer (HTTPS certsrv and plain HTTP CertEnroll) on its own event loop."""

    def __init__(self, ca: CertificationAuthority, *, accounts: dict[str, str] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = CertsrvServer(ca, accounts=accounts or {USER: PASSWORD})
        self.admin_server: AdminServer | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def __enter__(self) -> CertsrvServer:
        self.thread.start()
        self.run(self.server.start(crl_port=0))
        service = ca_admin(self.server.ca, evidence=self.server.evidence, certsrv_url=self.server.url)
        self.admin_server = AdminServer([service], token=ADMIN_TOKEN, host_name="labdc01")
        self.run(self.admin_server.start())
        return self.server

    def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``METHOD /admin/ca/<path>`` with the lab's token: the status and the JSON answer."""
        assert self.admin_server is not None
        response = requests.request(method, f"{self.admin_server.service_url('ca')}{path}", json=body,
                                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
        return response.status_code, response.json()

    def __exit__(self, *exc_info: object) -> None:
        if self.admin_server is not None:
            self.run(self.admin_server.close())
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

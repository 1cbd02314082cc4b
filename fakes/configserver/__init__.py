"""Genesys Configuration Server stand-in: Application objects behind a GAX-style JSON API.

The page's Configuration Server steps — "Creating a Password for Kerberos Security" (the
``Microsoft-OCS``/``password`` option) and "Configuring a Secure SIP Port" (a ``sip``
port whose Listening Mode is Secured) — are edits of the UC Connector's Application
object. This package keeps such objects in an SQLite file and serves them over the REST
API of Genesys Administrator Extension (GAX), with Configuration Server's rules and its
warning for a Secured port that has no certificate.

- :mod:`._model` — ``CfgApplication``, ``CfgPortInfo``, listening modes and transport
  parameters, validation (sans I/O);
- :mod:`._gax` — the GAX JSON shape (``to_gax`` / ``from_gax``);
- :mod:`._json` — request bodies read strictly, every refusal with its reason (sans I/O);
- :mod:`._store` — the SQLite Configuration Database, each change one transaction;
- :mod:`.api`, :mod:`.server` — the aiohttp API and the server process;
- :mod:`.console` — GAX-like pages on the same port (``/gax/``): the Application's Options,
  Server Info (with the Secured-port Warning) and Start Info, through the same store and
  model as the API (:mod:`._form` reads their form bodies strictly, :mod:`._sessions` holds
  the accounts and sessions both share);
- :mod:`.client` — the async client the harness and the connector use.

There is no built-in account: a server is given its accounts (``users``), and a client
logs in with one of them.
"""

from ._gax import from_gax, to_gax, update_from_gax
from ._model import (
    CfgApplication,
    CfgPortInfo,
    CfgServerInfo,
    ListeningMode,
    ValidationError,
    format_transport_params,
    is_mutual_tls,
    listening_mode,
    parse_transport_params,
    port_security_warnings,
    transport_params_for,
    validate_application,
)
from ._store import ConfigStore, ObjectNotFoundError, StoreError
from .api import create_app
from .client import ConfigServerClient, ConfigServerError
from .server import ConfigServer, main

__all__ = [
    "CfgApplication",
    "CfgPortInfo",
    "CfgServerInfo",
    "ListeningMode",
    "ValidationError",
    "parse_transport_params",
    "format_transport_params",
    "transport_params_for",
    "listening_mode",
    "is_mutual_tls",
    "validate_application",
    "port_security_warnings",
    "to_gax",
    "from_gax",
    "update_from_gax",
    "ConfigStore",
    "StoreError",
    "ObjectNotFoundError",
    "create_app",
    "ConfigServer",
    "ConfigServerClient",
    "ConfigServerError",
    "main",
]

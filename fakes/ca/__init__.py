"""An AD CS stand-in: an enterprise certification authority with certsrv web enrollment.

It plays ``labdc01.companya.com\\companya-LABDC01-CA`` of the vendor page: the CA behind
"CA Web Access https://[server_name]/certsrv" and behind the Management Shell's
``Request-CsCertificate -CA ...``. In a minute::

    from pathlib import Path
    from fakes.ca import CertificationAuthority

    ca = CertificationAuthority.open_or_create(Path("/tmp/ca"))
    result = ca.submit(csr_pem, template="WebServer", requester="COMPANYA\\\\admin")
    result.disposition, result.message        # ("issued", "Issued")
    ca.submit(csr_pem, template="Web Server", requester="COMPANYA\\\\admin").message
    # 'Denied by Policy Module  0x80094800, The request was for a certificate template
    #  that is not supported by the Active Directory Certificate Services policy: Web Server.'

A CA manager's work: ``ca.approve(request_id)`` / ``ca.deny(request_id)`` for requests
of a template that needs approval, ``ca.revoke(serial, "KeyCompromise")`` as
``certutil -revoke``; the base CRL (``ca.crl``) is published under ``ca.cdp_url``.

Serve web enrollment with ``python -m fakes.ca --state-dir /tmp/ca`` (or
:class:`CertsrvServer`); any AD CS web-enrollment client works against it, e.g. the
``certsrv`` package, with Basic or NTLM. The core (CA, templates, database, CRLs, shell
command) does no networking; :mod:`fakes.ca.certsrv` is the thin HTTPS shell around it
and :mod:`fakes.ca.certenroll` the plain HTTP site that serves the CRLs.
"""

from fakes._cryptodome import use_ctypes

use_ctypes()  # before PyCryptodome is first imported (by impacket, here)

from ._authority import CertificationAuthority, CrlPublication, Revocation
from ._crl import REVOCATION_REASONS, CertutilError, CrlSchedule
from ._database import RequestRecord, RequestResult
from ._errors import CAError, CAStateError, ShellError
from ._policy import describe_status
from ._shell import (
    RequestCsCertificate,
    build_cs_certificate_csr,
    check_ca_config,
    parse_request_cs_certificate,
)
from ._templates import DEFAULT_TEMPLATES, Template, template_of
from .certsrv import CertsrvServer, make_certsrv_app

__all__ = [
    "DEFAULT_TEMPLATES",
    "REVOCATION_REASONS",
    "CAError",
    "CAStateError",
    "CertificationAuthority",
    "CertsrvServer",
    "CertutilError",
    "CrlPublication",
    "CrlSchedule",
    "RequestCsCertificate",
    "RequestRecord",
    "RequestResult",
    "Revocation",
    "ShellError",
    "Template",
    "build_cs_certificate_csr",
    "check_ca_config",
    "describe_status",
    "make_certsrv_app",
    "parse_request_cs_certificate",
    "template_of",
]

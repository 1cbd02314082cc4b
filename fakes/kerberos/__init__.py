"""Kerberos V5 for the lab: messages in DER of our own, impacket's crypto behind a small wrapper.

One package for every side of the wire: the KDC stand-in (:mod:`fakes.kdc`), the Front
End's MS-SIPAE acceptor and the UC Connector stand-in's client all use it. Nothing here
opens a socket or reads the clock except :class:`KerberosClient`'s transport; time comes
from ``now`` callables and randomness from ``rng`` callables.

- crypto (:mod:`._crypto`): enctypes 18, 17, 23, 16, 3 and 1 — des-cbc-crc written here —,
  fast cached ``string_to_key``, checksums 16, 15, 12, -138 and 7 (rsa-md5);
- messages (:mod:`._messages`, over :mod:`._der`): AS/TGS/AP/KRB-ERROR and their parts
  as frozen dataclasses with ``to_der()`` / ``from_der()``, byte for byte what impacket's
  ASN.1 and MIT write; a :class:`DecodeError` names the message, the field and what is
  wrong; :attr:`KdcReq.raw_body` keeps the req-body bytes as received;
- GSS-API (:mod:`._gssapi`): initial context tokens, the 0x8003 checksum, RFC 4121 (AES)
  and RFC 4757 (RC4) MIC tokens;
- the client (:mod:`._client`): :class:`AsExchange`, :class:`TgsExchange`,
  :func:`make_initial_context_token`, :class:`KerberosClient`;
- the acceptor (:mod:`._acceptor`): :func:`accept_sec_context`, :class:`ReplayCache`;
- Active Directory's additions (:mod:`._kile`): KERB-EXT-ERROR (an NTSTATUS in a
  KRB-ERROR's e-data) and PA-SUPPORTED-ENCTYPES.

In a minute, against the lab's KDC::

    client = KerberosClient("COMPANYA.COM", [("127.0.0.1", port)])
    tgt = await client.get_tgt("ocs-ucc", password)
    ticket = await client.get_service_ticket(tgt, "sip/fe01.companya.com")
    token, initiator = make_initial_context_token(ticket)
    accepted = accept_sec_context(token, frontend_account.keys("COMPANYA.COM"),
                                  now=utc_now, replay_cache=ReplayCache())
    accepted.client_principal                         # 'ocs-ucc@COMPANYA.COM'
    accepted.verify_mic(data, initiator.get_mic(data))
"""

from fakes._cryptodome import use_ctypes

use_ctypes()  # before PyCryptodome is first imported (by impacket, here)

from ._acceptor import AcceptedContext, accept_sec_context
from ._client import (
    JAVA_DEFAULT_ENCTYPES,
    JAVA_WEAK_CRYPTO_ENCTYPES,
    AsExchange,
    Credential,
    InitiatorContext,
    KerberosClient,
    TgsExchange,
    make_ap_req,
    make_initial_context_token,
)
from ._context import DEFAULT_MAX_SKEW, GssContext, ReplayCache
from ._crypto import (
    SUPPORTED_ENCTYPES,
    WEAK_ENCTYPES,
    Cksumtype,
    Enctype,
    Key,
    KeyUsage,
    Rng,
    checksum_type_for,
    decrypt,
    encrypt,
    enctype_name,
    make_checksum,
    mod_crc32,
    random_key,
    string_to_key,
    verify_checksum,
)
from ._errors import (
    DecodeError,
    ErrorCode,
    IntegrityError,
    KdcUnreachableError,
    KerberosError,
    error_name,
    error_text,
)
from ._gssapi import (
    GSS_CHECKSUM_TYPE,
    KRB5_OID,
    MIC_ENCTYPES,
    MS_KRB5_OID,
    GssChecksum,
    GssFlag,
    get_mic,
    make_gss_checksum,
    parse_gss_checksum,
    unwrap_initial_token,
    verify_mic,
    wrap_initial_token,
)
from ._kile import (
    KERB_ERR_TYPE_EXTENDED,
    NTSTATUS,
    NtStatus,
    decode_kerb_ext_error,
    decode_supported_enctypes,
    encode_kerb_ext_error,
    encode_supported_enctypes,
    ntstatus,
)
from ._messages import (
    ApOption,
    ApRep,
    ApReq,
    Authenticator,
    Checksum,
    EncApRepPart,
    EncKdcRepPart,
    EncryptedData,
    EncTicketPart,
    EtypeInfo2Entry,
    KdcOption,
    KdcRep,
    KdcReq,
    KdcReqBody,
    KrbError,
    MessageType,
    NameType,
    PaData,
    PaDataType,
    PrincipalName,
    Ticket,
    TicketFlag,
    decode_etype_info2,
    decode_method_data,
    decode_pa_enc_ts_enc,
    encode_etype_info2,
    encode_method_data,
    encode_pa_enc_ts_enc,
    format_principal,
    message_type,
    parse_principal,
)
from ._time import Clock, read_clock, utc_now

__all__ = [
    # errors
    "KerberosError",
    "DecodeError",
    "IntegrityError",
    "KdcUnreachableError",
    "ErrorCode",
    "error_name",
    "error_text",
    # crypto
    "Enctype",
    "Cksumtype",
    "KeyUsage",
    "Key",
    "Rng",
    "SUPPORTED_ENCTYPES",
    "WEAK_ENCTYPES",
    "enctype_name",
    "string_to_key",
    "random_key",
    "encrypt",
    "decrypt",
    "make_checksum",
    "verify_checksum",
    "checksum_type_for",
    "mod_crc32",
    # messages
    "MessageType",
    "NameType",
    "PaDataType",
    "TicketFlag",
    "KdcOption",
    "ApOption",
    "PrincipalName",
    "parse_principal",
    "format_principal",
    "EncryptedData",
    "Checksum",
    "PaData",
    "EtypeInfo2Entry",
    "Ticket",
    "EncTicketPart",
    "KdcReqBody",
    "KdcReq",
    "KdcRep",
    "EncKdcRepPart",
    "ApReq",
    "Authenticator",
    "EncApRepPart",
    "ApRep",
    "KrbError",
    "message_type",
    "encode_etype_info2",
    "decode_etype_info2",
    "encode_method_data",
    "decode_method_data",
    "encode_pa_enc_ts_enc",
    "decode_pa_enc_ts_enc",
    # Active Directory's additions (MS-KILE)
    "NtStatus",
    "NTSTATUS",
    "ntstatus",
    "KERB_ERR_TYPE_EXTENDED",
    "encode_kerb_ext_error",
    "decode_kerb_ext_error",
    "encode_supported_enctypes",
    "decode_supported_enctypes",
    # GSS-API
    "KRB5_OID",
    "MS_KRB5_OID",
    "GSS_CHECKSUM_TYPE",
    "MIC_ENCTYPES",
    "GssFlag",
    "GssChecksum",
    "GssContext",
    "wrap_initial_token",
    "unwrap_initial_token",
    "make_gss_checksum",
    "parse_gss_checksum",
    "get_mic",
    "verify_mic",
    # client and acceptor
    "JAVA_DEFAULT_ENCTYPES",
    "JAVA_WEAK_CRYPTO_ENCTYPES",
    "Credential",
    "AsExchange",
    "TgsExchange",
    "InitiatorContext",
    "make_ap_req",
    "make_initial_context_token",
    "KerberosClient",
    "AcceptedContext",
    "accept_sec_context",
    "ReplayCache",
    "DEFAULT_MAX_SKEW",
    # time
    "Clock",
    "utc_now",
    "read_clock",
]

"""What Active Directory's KDC adds to RFC 4120, in memory: the domain's DES policy, account
states answered with an NTSTATUS in e-data, renew and validate, canonical names,
PA-SUPPORTED-ENCTYPES and the DC's own SPNs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fakes.kdc import (
    Account,
    Directory,
    DomainPolicy,
    KdcCore,
    domain_controller_account,
)
from fakes.kerberos import (
    JAVA_WEAK_CRYPTO_ENCTYPES,
    AsExchange,
    Credential,
    EncKdcRepPart,
    ErrorCode,
    KdcOption,
    KdcRep,
    KerberosError,
    KeyUsage,
    NameType,
    PaDataType,
    PrincipalName,
    TgsExchange,
    TicketFlag,
    decode_kerb_ext_error,
    decode_supported_enctypes,
    decrypt,
    encode_kerb_ext_error,
    string_to_key,
)

from .kdc_support import DES_PASSWORD, FRONTEND_SPN, REALM, UCC_PASSWORD, lab_accounts

START = datetime(2024, 5, 6, 8, 0, 0, tzinfo=UTC)
KRBTGT = f"krbtgt/{REALM}"


class Clock:
    """A settable clock; each reading moves it on by 1 ms (authenticators then differ)."""

    def __init__(self, moment: datetime = START) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        self.moment += timedelta(milliseconds=1)
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock()


def kdc_with(clock: Clock, *extra: Account, **ucc_state: object) -> KdcCore:
    """The page's domain, the OCS user in ``ucc_state``, the DC's own account and ``extra``."""
    accounts = [Account("ocs-ucc", UCC_PASSWORD, upn="ocs-ucc@companya.com", **ucc_state)  # type: ignore[arg-type]
                if a.sam_account_name == "ocs-ucc" else a for a in lab_accounts()]
    accounts.append(domain_controller_account("labdc01", "companya.com", "Dc#Machine-1"))
    return KdcCore(REALM, accounts + list(extra), now=clock)


def as_exchange(kdc: KdcCore, exchange: AsExchange) -> Credential:
    """Run ``exchange`` against the core; raises KerberosError (with the KRB-ERROR's e-data)."""
    message = exchange.request()
    while True:
        reply = kdc.handle(message)
        assert reply is not None
        result = exchange.receive(reply)
        if isinstance(result, Credential):
            return result
        message = result


def login(kdc: KdcCore, clock: Clock, user: str = "ocs-ucc", password: str = UCC_PASSWORD, **options: object
          ) -> Credential:
    return as_exchange(kdc, AsExchange(user, REALM, password, now=clock, **options))  # type: ignore[arg-type]


def tgs(kdc: KdcCore, clock: Clock, tgt: Credential, service: str = FRONTEND_SPN, **options: object) -> Credential:
    exchange = TgsExchange(tgt, service, now=clock, **options)  # type: ignore[arg-type]
    reply = kdc.handle(exchange.request())
    assert reply is not None
    return exchange.receive(reply)


def refused(action: object) -> KerberosError:
    with pytest.raises(KerberosError) as caught:
        action()  # type: ignore[operator]
    return caught.value


# -- account and password states ------------------------------------------------------------------

@pytest.mark.parametrize("state, status", [
    ({"enabled": False}, 0xC0000072),
    ({"locked_out": True}, 0xC0000234),
    ({"account_expires": "2024-05-06T07:59:00Z"}, 0xC0000193),
], ids=["disabled", "locked-out", "expired"])
def test_revoked_accounts_get_18_with_their_ntstatus_before_pre_authentication(
        clock: Clock, state: dict[str, object], status: int) -> None:
    kdc = kdc_with(clock, **state)
    # Wrong password or right, no pre-authentication is asked for: 18 at once.
    for password in (UCC_PASSWORD, "wrong"):
        error = refused(lambda password=password: login(kdc, clock, password=password))
        assert error.code == ErrorCode.KDC_ERR_CLIENT_REVOKED
        assert decode_kerb_ext_error(error.e_data) == status
        assert error.e_data == encode_kerb_ext_error(status)
    event = kdc.events[-1]
    assert [e.error_code for e in kdc.events] == [18, 18] and event.ntstatus is not None
    assert event.to_dict()["ntstatus"]["code"] == f"0x{status:08X}"
    assert event.ad_event is None


def test_account_expiring_later_still_logs_in(clock: Clock) -> None:
    kdc = kdc_with(clock, account_expires="2024-05-06T09:00:00+00:00")
    assert login(kdc, clock).client_principal == f"ocs-ucc@{REALM}"


def test_the_e_data_is_a_kerb_error_data_as_windows_writes_it() -> None:
    # [MS-KILE] 2.2.2 KERB-ERROR-DATA { data-type [1] 3, data-value [2] KERB-EXT-ERROR },
    # the KERB-EXT-ERROR three little-endian words: status, reserved 0, flags 1.
    assert encode_kerb_ext_error(0xC0000234).hex() == "3015a103020103a20e040c340200c00000000001000000"


@pytest.mark.parametrize("state, status", [({"must_change_password": True}, 0xC0000224),
                                           ({"password_expired": True}, 0xC0000071)],
                         ids=["must-change", "password-expired"])
def test_password_states_get_23_once_the_password_is_proven(clock: Clock, state: dict[str, object],
                                                            status: int) -> None:
    kdc = kdc_with(clock, **state)
    error = refused(lambda: login(kdc, clock))
    assert error.code == ErrorCode.KDC_ERR_KEY_EXPIRED and decode_kerb_ext_error(error.e_data) == status
    assert [e.error_code for e in kdc.events] == [25, 23]
    assert kdc.events[-1].preauthenticated is True
    # A wrong password is a wrong password (24, no NTSTATUS: Samba's lockout_tests).
    wrong = refused(lambda: login(kdc, clock, password="wrong"))
    assert wrong.code == ErrorCode.KDC_ERR_PREAUTH_FAILED and wrong.e_data is None
    # The password-change service (kadmin/changepw, on krbtgt) stays open, for two minutes.
    changepw = login(kdc, clock, server="kadmin/changepw")
    assert changepw.server_principal == f"kadmin/changepw@{REALM}"
    assert changepw.endtime - changepw.authtime == timedelta(minutes=2)


# -- the domain's DES policy ------------------------------------------------------------------------

def test_policy_is_read_per_request_and_names_what_the_account_lacks(clock: Clock) -> None:
    kdc = kdc_with(clock)
    assert kdc.policy == DomainPolicy(des_enabled=False)
    error = refused(lambda: login(kdc, clock, "ocs-des", DES_PASSWORD, enctypes=JAVA_WEAK_CRYPTO_ENCTYPES))
    assert error.code == ErrorCode.KDC_ERR_ETYPE_NOSUPP and error.e_data is None
    assert kdc.events[-1].ad_event is not None and kdc.events[-1].ad_event.id == 14
    kdc.policy = DomainPolicy(des_enabled=True)
    tgt = login(kdc, clock, "ocs-des", DES_PASSWORD, enctypes=JAVA_WEAK_CRYPTO_ENCTYPES)
    assert kdc.events[-1].reply_etype == 1 and tgt.session_key.enctype == 18


# -- renew and validate -----------------------------------------------------------------------------

RENEWABLE_TGT = int(KdcOption.FORWARDABLE | KdcOption.RENEWABLE)


def test_renewing_a_tgt_counts_its_lifetime_again_up_to_renew_till(clock: Clock) -> None:
    kdc = kdc_with(clock)
    tgt = login(kdc, clock, kdc_options=RENEWABLE_TGT)
    assert tgt.flags & TicketFlag.RENEWABLE and tgt.renew_till is not None
    assert tgt.renew_till - tgt.authtime == timedelta(hours=24)  # as asked (lifetime 1 day), within AD's 7 days
    clock.moment += timedelta(hours=11)  # the 10-hour TGT has expired, its renew-till has not
    assert refused(lambda: tgs(kdc, clock, tgt)).code == ErrorCode.KRB_AP_ERR_TKT_EXPIRED
    renewed = tgs(kdc, clock, tgt, KRBTGT, kdc_options=int(KdcOption.RENEW))
    assert kdc.events[-1].detail == "TGT renewed" and kdc.events[-1].options == ("renew",)
    assert renewed.authtime == tgt.authtime and renewed.renew_till == tgt.renew_till
    assert renewed.starttime is not None and renewed.endtime - renewed.starttime == timedelta(hours=10)
    assert renewed.flags & TicketFlag.RENEWABLE and renewed.session_key != tgt.session_key
    assert tgs(kdc, clock, renewed).server_principal == f"{FRONTEND_SPN}@{REALM}"
    # Renewed later on, the lifetime stops at the renew-till.
    clock.moment += timedelta(hours=9)
    last = tgs(kdc, clock, renewed, KRBTGT, kdc_options=int(KdcOption.RENEW))
    assert last.endtime == tgt.renew_till
    # Past its renew-till a ticket cannot be renewed.
    clock.moment += timedelta(days=1)
    assert refused(lambda: tgs(kdc, clock, last, KRBTGT, kdc_options=int(KdcOption.RENEW))).code == \
        ErrorCode.KRB_AP_ERR_TKT_EXPIRED


def test_renew_of_a_ticket_that_is_not_renewable_is_a_bad_option(clock: Clock) -> None:
    kdc = kdc_with(clock)
    tgt = login(kdc, clock, kdc_options=int(KdcOption.FORWARDABLE))
    assert not tgt.flags & TicketFlag.RENEWABLE
    error = refused(lambda: tgs(kdc, clock, tgt, KRBTGT, kdc_options=int(KdcOption.RENEW)))
    assert error.code == ErrorCode.KDC_ERR_BADOPTION and kdc.events[-1].detail == "the TGT is not renewable"
    # Renew and validate apply to the TGT itself, not to a ticket for another service.
    renewable = login(kdc, clock, kdc_options=RENEWABLE_TGT)
    assert refused(lambda: tgs(kdc, clock, renewable, kdc_options=int(KdcOption.RENEW))).code == \
        ErrorCode.KDC_ERR_BADOPTION


def test_postdated_tgt_is_invalid_until_validated(clock: Clock) -> None:
    kdc = kdc_with(clock)
    start = clock.moment + timedelta(minutes=1)
    options = int(KdcOption.POSTDATED | KdcOption.ALLOW_POSTDATE)
    tgt = login(kdc, clock, kdc_options=options, start=start)
    assert tgt.flags & TicketFlag.INVALID and tgt.flags & TicketFlag.POSTDATED and tgt.flags & TicketFlag.MAY_POSTDATE
    assert tgt.starttime == start.replace(microsecond=0) and kdc.events[-1].detail == "postdated TGT issued"
    assert refused(lambda: tgs(kdc, clock, tgt)).code == ErrorCode.KRB_AP_ERR_TKT_NYV
    validate = int(KdcOption.VALIDATE)
    assert refused(lambda: tgs(kdc, clock, tgt, KRBTGT, kdc_options=validate)).code == ErrorCode.KRB_AP_ERR_TKT_NYV
    clock.moment += timedelta(minutes=2)
    valid = tgs(kdc, clock, tgt, KRBTGT, kdc_options=validate)
    assert not valid.flags & TicketFlag.INVALID and valid.flags & TicketFlag.POSTDATED
    assert valid.endtime == tgt.endtime and kdc.events[-1].detail == "TGT validated"
    assert tgs(kdc, clock, valid).server_principal == f"{FRONTEND_SPN}@{REALM}"
    # A valid ticket has nothing to validate (MIT's KDC answers 13, measured).
    assert refused(lambda: tgs(kdc, clock, valid, KRBTGT, kdc_options=validate)).code == ErrorCode.KDC_ERR_BADOPTION


def test_start_times_rfc_4120_refuses(clock: Clock) -> None:
    kdc = kdc_with(clock)
    # Beyond the clock-skew window without POSTDATED: KDC_ERR_CANNOT_POSTDATE.
    later = clock.moment + timedelta(hours=1)
    assert refused(lambda: login(kdc, clock, start=later, kdc_options=0)).code == ErrorCode.KDC_ERR_CANNOT_POSTDATE
    # Within it, the start is now.
    soon = login(kdc, clock, start=clock.moment + timedelta(minutes=1), kdc_options=0)
    assert not soon.flags & TicketFlag.INVALID and soon.starttime is not None and soon.starttime < clock.moment
    # An end before the start: KDC_ERR_NEVER_VALID.
    assert refused(lambda: login(kdc, clock, lifetime=timedelta(hours=-1))).code == ErrorCode.KDC_ERR_NEVER_VALID


# -- names ------------------------------------------------------------------------------------------

def test_enterprise_name_comes_back_as_sent_without_canonicalize(clock: Clock) -> None:
    kdc = kdc_with(clock)
    enterprise = PrincipalName(NameType.ENTERPRISE, ("OCS-UCC@companya.com",))
    tgt = login(kdc, clock, enterprise, kdc_options=int(KdcOption.FORWARDABLE))
    assert tgt.client == enterprise and tgt.client_realm == REALM
    # The TGT works for a service ticket, whose client is the same enterprise name.
    assert tgs(kdc, clock, tgt).client == enterprise


def test_canonicalize_gives_the_samaccountname_as_a_principal_name(clock: Clock) -> None:
    kdc = kdc_with(clock)
    options = int(KdcOption.FORWARDABLE | KdcOption.CANONICALIZE)
    for sent in (PrincipalName(NameType.ENTERPRISE, ("ocs-ucc@companya.com",)),
                 PrincipalName(NameType.PRINCIPAL, ("OCS-UCC",))):
        exchange = AsExchange(sent, "companya.com", UCC_PASSWORD, now=clock, kdc_options=options,
                              server="krbtgt/companya.com")
        tgt = as_exchange(kdc, exchange)
        assert tgt.client == PrincipalName(NameType.PRINCIPAL, ("ocs-ucc",)) and tgt.client_realm == REALM
        assert tgt.server == PrincipalName(NameType.SRV_INST, ("krbtgt", REALM)) and tgt.server_realm == REALM


def _as_rep_part(kdc: KdcCore, exchange: AsExchange) -> EncKdcRepPart:
    """The decrypted AS-REP of ``exchange`` (ocs-ucc's AES256 key opens it)."""
    second = exchange.receive(kdc.handle(exchange.request()) or b"")
    assert isinstance(second, bytes)
    reply = KdcRep.from_der(kdc.handle(second) or b"")
    key = string_to_key(18, UCC_PASSWORD, f"{REALM}ocs-ucc")
    return EncKdcRepPart.from_der(decrypt(key, KeyUsage.AS_REP_ENC_PART, reply.enc_part.cipher))


def test_canonicalized_replies_say_which_enctypes_the_service_supports(clock: Clock) -> None:
    kdc = kdc_with(clock)
    part = _as_rep_part(kdc, AsExchange("ocs-ucc", REALM, UCC_PASSWORD, now=clock,
                                        kdc_options=int(KdcOption.FORWARDABLE | KdcOption.CANONICALIZE)))
    [supported] = [p for p in part.encrypted_pa_data if p.padata_type == PaDataType.SUPPORTED_ENCTYPES]
    assert decode_supported_enctypes(supported.value) == (0x1C, (18, 17, 23))  # krbtgt: AES256, AES128, RC4
    # Without CANONICALIZE, nothing of the kind (MS-KILE 3.3.5.3; Samba adds it only then).
    plain = _as_rep_part(kdc, AsExchange("ocs-ucc", REALM, UCC_PASSWORD, now=clock,
                                         kdc_options=int(KdcOption.FORWARDABLE)))
    assert plain.encrypted_pa_data == ()


# -- the domain controller's own SPNs ---------------------------------------------------------------

@pytest.mark.parametrize("service", [
    "host/labdc01.companya.com", "HOST/LABDC01", "ldap/labdc01.companya.com", "ldap/labdc01.companya.com/COMPANYA",
    "GC/labdc01.companya.com/companya.com",
    # sPNMappings: these service classes are HOST's aliases.
    "cifs/labdc01.companya.com", "http/labdc01.companya.com", "CIFS/LABDC01", "time/labdc01.companya.com",
])
def test_the_dcs_spns_and_their_host_aliases(clock: Clock, service: str) -> None:
    kdc = kdc_with(clock)
    ticket = tgs(kdc, clock, login(kdc, clock), service)
    assert ticket.server_principal == f"{service}@{REALM}"  # named as asked
    dc = kdc.directory.by_sam_account_name("LABDC01$")
    assert dc is not None
    decrypt(dc.key(18, REALM), KeyUsage.KDC_REP_TICKET, ticket.ticket.enc_part.cipher)  # under the DC's key


def test_aliases_do_not_reach_beyond_host_and_an_own_spn_wins(clock: Clock) -> None:
    web = Account("websvc", "Web#1", spns=("http/labdc01.companya.com",))
    directory = Directory(REALM, [domain_controller_account("labdc01", "companya.com", "x"), web])
    assert directory.find_services(PrincipalName.from_text("http/labdc01.companya.com")) == [web]
    assert directory.find_services(PrincipalName.from_text("sip/labdc01.companya.com")) == []
    assert domain_controller_account("labdc01", "companya.com", "x").spns[:3] == (
        "HOST/labdc01.companya.com", "HOST/LABDC01", "ldap/labdc01.companya.com")


def test_a_negative_nonce_as_heimdal_sends_it_is_answered_with_the_same_nonce(clock: Clock) -> None:
    # Heimdal 7.8's kgetcred sent nonce -1034954466 (its ASN.1 says krb5int32, RFC 4120 UInt32).
    kdc = kdc_with(clock)
    tgt = login(kdc, clock)
    exchange = TgsExchange(tgt, FRONTEND_SPN, now=clock)
    exchange._nonce = -1034954466  # our client draws 31-bit nonces; Heimdal's may be negative
    reply = kdc.handle(exchange.request())
    assert reply is not None and reply[0] == 0x6D  # a TGS-REP, not a dropped request
    assert exchange.receive(reply).server_principal == f"{FRONTEND_SPN}@{REALM}"  # the nonce came back as sent

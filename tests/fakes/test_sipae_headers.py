"""MS-SIPAE header values: what Lync and its clients write, round trips, and clear errors."""

from __future__ import annotations

import base64

import pytest

from fakes.sipae import (
    AuthenticationInfo,
    Challenge,
    Credentials,
    RemoteProtocolError,
    parse_auth_params,
    parse_authentication_info,
    parse_challenge,
    parse_credentials,
    select_challenge,
)

SPN = "sip/fe01.companya.com"
REALM = "SIP Communications Service"


def test_challenge_is_written_as_lync_writes_it() -> None:
    assert Challenge("Kerberos", REALM, SPN, 4).header_value() == (
        'Kerberos realm="SIP Communications Service", targetname="sip/fe01.companya.com", version=4')
    assert Challenge("NTLM", REALM, "fe01.companya.com").header_value() == (
        'NTLM realm="SIP Communications Service", targetname="fe01.companya.com"')


def test_the_ms_sipae_example_challenges_parse() -> None:
    # MS-SIPAE §4.2, step 2 (version 3 there).
    ntlm = parse_challenge('NTLM realm="SIP Communications Service", targetname="server.contoso.com", version=3')
    kerberos = parse_challenge('Kerberos realm="SIP Communications Service", targetname="sip/server.contoso.com", '
                               'version=3')
    assert ntlm == Challenge("NTLM", REALM, "server.contoso.com", 3)
    assert kerberos == Challenge("Kerberos", REALM, "sip/server.contoso.com", 3)


def test_select_challenge_takes_the_kerberos_offer() -> None:
    values = [Challenge("NTLM", REALM, "fe01.companya.com", 4).header_value(),
              Challenge("Kerberos", REALM, SPN, 4).header_value()]
    assert select_challenge(values) == Challenge("Kerberos", REALM, SPN, 4)
    assert select_challenge(values[:1]) is None


def test_first_credentials_round_trip_in_pidgin_sipe_order() -> None:
    token = b"\x60\x82\x02\x00" + bytes(range(40))
    credentials = Credentials("Kerberos", REALM, SPN, gssapi_data=token, version=4, crand="0a1b2c3d", cnum="1",
                              response="0404")
    value = credentials.header_value()
    assert value == ('Kerberos qop="auth", realm="SIP Communications Service", targetname="sip/fe01.companya.com", '
                     f'gssapi-data="{base64.b64encode(token).decode()}", version=4, crand="0a1b2c3d", cnum="1", '
                     'response="0404"')
    assert parse_credentials(value) == credentials
    assert credentials.signed and credentials.cnum_value == 1


def test_later_credentials_carry_the_opaque_and_no_token() -> None:
    value = ('Kerberos qop="auth", opaque="8A6FC1E3", realm="SIP Communications Service", '
             'targetname="sip/fe01.companya.com", crand="9e8d7c6b", cnum="2", response="04040000"')
    credentials = parse_credentials(value)
    assert (credentials.opaque, credentials.gssapi_data, credentials.cnum) == ("8A6FC1E3", None, "2")
    assert credentials.header_value() == value


def test_authentication_info_of_the_ms_ocpstn_capture_parses_and_is_rewritten_the_same() -> None:
    # [MS-OCPSTN] §4.7.2.1, a Mediation Server's 200 (TLS-DSK, same header grammar).
    value = ('TLS-DSK qop="auth", opaque="F755045D", srand="1D9666D9", snum="17", '
             'rspauth="3359c8ac2e6229b2eb9738ac707dc8c3e54f65f0", targetname="PROXY.company1", '
             'realm="SIP Communications Service", version=4')
    info = parse_authentication_info(value)
    assert info == AuthenticationInfo("TLS-DSK", REALM, "PROXY.company1", "F755045D", "1D9666D9", "17",
                                      "3359c8ac2e6229b2eb9738ac707dc8c3e54f65f0", version=4)
    assert info.header_value() == value


def test_parameters_may_come_in_any_order_with_any_spacing_and_case() -> None:
    scheme, params = parse_auth_params('Kerberos  TargetName = "x" ,realm="a, b"', "WWW-Authenticate")
    assert (scheme, params) == ("Kerberos", {"targetname": "x", "realm": "a, b"})


@pytest.mark.parametrize(("value", "reason"), [
    ("Kerberos", "no parameters after 'Kerberos'"),
    ('Kerberos realm="a" targetname="b"', "expected ','"),
    ('Kerberos realm="a", realm="b", targetname="c"', "parameter 'realm' given twice"),
    ('Kerberos realm="a", targetname="b", gssapi-data="not base64!"', "gssapi-data is not base64"),
    ('Kerberos realm="a", targetname="b", crand="xyz"', "crand 'xyz' is not hexadecimal"),
    ('Kerberos realm="a", targetname="b", cnum="-1"', "cnum '-1' is not a counter"),
    ('Kerberos realm="a", targetname="b", cnum="123456789012"', "cnum '123456789012' is not a counter"),
    ('Kerberos realm="a", targetname="b", version=four', "version 'four' is not a small number"),
    ('Kerberos targetname="b"', "no realm parameter"),
    ('Kerberos realm="a, targetname="b"', "expected"),
    ('"Kerberos" realm="a"', "expected an authentication protocol"),
])
def test_malformed_authorization_says_what_is_wrong(value: str, reason: str) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        parse_credentials(value)
    assert caught.value.header == "Authorization"
    assert reason in caught.value.reason
    assert str(caught.value).startswith("malformed Authorization header: ")


def test_authentication_info_without_its_signature_is_malformed() -> None:
    with pytest.raises(RemoteProtocolError, match="no srand, rspauth parameter"):
        parse_authentication_info('Kerberos opaque="1", snum="1", realm="a", targetname="b"')

"""The judge's unexplained verdicts still name a step of the page: the one of their path."""

from __future__ import annotations

from harness.judge import LOGIN_STEP, judge_login, login_diagnoses


def _login_without_evidence(client_code: str | None) -> list[dict]:
    login = judge_login([], [], principal="ocs-ucc@COMPANYA.COM", spn="sip/fe01.companya.com@COMPANYA.COM",
                        rspauth_verified=False)
    assert not login.confirmed
    return login_diagnoses(login, [], [], client_code=client_code, client_error="connection closed", view={},
                           kdc_seen=[])


def test_a_login_the_servers_never_saw_points_at_the_tls_arguments() -> None:
    [diagnosis] = _login_without_evidence(None)
    assert diagnosis["code"] == "handshake-not-confirmed"
    assert diagnosis["doc_step"] == LOGIN_STEP == "Modifying Command Line Parameters for TLS, step 2"
    assert "a TGT for the OCS user" in diagnosis["message"]


def test_the_connectors_own_word_for_the_end_is_no_diagnosis_code() -> None:
    # frontend-closed says how the connection ended, not why: the verdict stays the judge's.
    [diagnosis] = _login_without_evidence("frontend-closed")
    assert diagnosis["code"] == "handshake-not-confirmed" and diagnosis["doc_step"] == LOGIN_STEP
    assert diagnosis["message"] == "the connector reported: connection closed"

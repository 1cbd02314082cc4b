"""Configuring Kerberos Security in Active Directory.

The OCS user that represents the UC Connector (``ocs-ucc``) gets, in its Account tab,
"Use Kerberos DES encryption for this account" — the page's step 3.

That option makes the account's keys single DES only (AD's USE_DES_KEY_ONLY). Single DES
is deprecated by RFC 6649 and gone from modern Kerberos: MIT krb5 since 1.18 cannot use
it at all and JDK 17 refuses it unless krb5.conf says ``allow_weak_crypto = true``. So the
default replay leaves the option unchecked and records the gap; a literal replay
(``--set kerberos_ad.select_account_options.use_des=true`` or ``replay --literal``) checks
it and the login then fails as it would with a modern connector.
"""

from __future__ import annotations

from ._framework import Done, Procedure, StepContext, StepFailed

PROCEDURE = Procedure("kerberos_ad", "Configuring Kerberos Security in Active Directory", host="ca")

DES_OPTION = "Use Kerberos DES encryption for this account"


@PROCEDURE.step(1)
async def open_user_properties(ctx: StepContext) -> Done:
    """Access the user properties in Active Directory (Active Directory Users and Computers)."""
    return Done(f"opened Active Directory Users and Computers for {ctx.lab.topology.domain}")


@PROCEDURE.step(2)
async def locate_ocs_user(ctx: StepContext, *, account: str | None = None) -> Done:
    """Locate the OCS user that represents the UC Connector; right-click > Properties."""
    lab = ctx.lab
    assert lab.domain is not None
    name = account or lab.topology.ucc_account
    if await lab.domain.account(name) is None:
        raise StepFailed(
            "krb-principal-unknown",
            f"Active Directory has no user named {name!r}",
            f"Use the OCS user created for the UC Connector ({lab.topology.ucc_account}).",
        )
    ctx.state["kerberos_ad.account"] = name
    return Done(f"{name} > Properties > Account tab")


@PROCEDURE.step(3)
async def select_account_options(
    ctx: StepContext,
    *,
    use_des: bool | None = None,
    do_not_require_preauth: bool = False,
    literal: bool = False,
) -> Done:
    """Under Account options, select "Use Kerberos DES encryption for this account".

    ``use_des`` defaults to what the page says when ``literal``, and to unchecked
    otherwise (a gap: see the module docstring).
    """
    lab = ctx.lab
    assert lab.domain is not None
    name = ctx.state["kerberos_ad.account"]
    des = literal if use_des is None else use_des
    await lab.domain.update(name, use_des_key_only=des, dont_require_preauth=do_not_require_preauth)
    options = [f"'{DES_OPTION}' {'selected' if des else 'left unchecked'}"]
    if do_not_require_preauth:
        options.append("'Do not require Kerberos preauthentication' selected")
    gap = note = None
    if use_des is None and not literal:
        gap = (
            f"the page selects '{DES_OPTION}': single DES is deprecated (RFC 6649) and disabled in modern "
            "Kerberos (MIT krb5 1.18+, JDK 17 without allow_weak_crypto); the lab leaves it unchecked"
        )
    if des:
        note = "the account now has single-DES keys only: insecure, and refused by clients that do not allow weak crypto (RFC 6649)"
    return Done(f"{name}: {'; '.join(options)}", gap=gap, note=note)

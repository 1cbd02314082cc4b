"""Creating the Configuration File for Kerberos security.

The page's sample, with the lab's realm: ``default_realm``, the realm's ``kdc``, the
``[domain_realm]`` mapping. The page's ``kdc = SERVER1.YOUR-OCS-DOMAIN.COM`` is a DNS name;
the lab's KDC listens on ``127.0.0.1:PORT``, which is what the file says.
"""

from __future__ import annotations

from ..artifacts import page_krb5_conf, write_krb5_conf
from ._framework import Done, Procedure, StepContext

PROCEDURE = Procedure("krb5_conf", "Creating the Configuration File for Kerberos security", host="ucc")


@PROCEDURE.step(1)
async def open_sample_krb5_conf(ctx: StepContext) -> Done:
    """Open the sample krb5.conf in the connector's etc folder."""
    return Done(f"opened {ctx.lab.topology.ucc_working_directory}\\etc\\krb5.conf (the sample)")


@PROCEDURE.step(2)
async def modify_krb5_conf(
    ctx: StepContext,
    *,
    default_realm: str | None = None,
    kdc: str | None = None,
    domain: str | None = None,
    allow_weak_crypto: bool = False,
    udp_preference_limit: int | None = None,
) -> Done:
    """Set default_realm, the realm's kdc and the domain_realm mapping (the page's table)."""
    lab = ctx.lab
    assert lab.network is not None
    t = lab.topology
    realm = (default_realm or t.realm)
    # The KDC as the UC Connector host reaches it (in containers: the DC by its name).
    conf = page_krb5_conf(realm=realm, kdc=kdc or str(lab.network.kdc), domain=domain or t.domain)
    extras = []
    if allow_weak_crypto:
        conf.libdefaults["allow_weak_crypto"] = "true"
        extras.append("allow_weak_crypto = true")
    if udp_preference_limit is not None:
        conf.libdefaults["udp_preference_limit"] = str(udp_preference_limit)
        extras.append(f"udp_preference_limit = {udp_preference_limit}")
    ctx.state["krb5_conf.conf"] = conf
    note = "allow_weak_crypto = true re-enables single DES, RC4 and 3DES: insecure" if allow_weak_crypto else None
    return Done(
        f"default_realm = {realm}; [realms] {realm} kdc = {conf.realms[realm]['kdc'][0]}; "
        f"[domain_realm] .{(domain or t.domain).lower()} = {realm}" + (f"; {', '.join(extras)}" if extras else ""),
        note=note,
    )


@PROCEDURE.step(3)
async def save_krb5_conf(ctx: StepContext, *, file_name: str = "krb5.conf") -> Done:
    """Save the krb5.conf file and note where (``-krb_conf_file`` will point there)."""
    lab = ctx.lab
    path = write_krb5_conf(lab.artifacts_dir / file_name, ctx.state["krb5_conf.conf"])
    lab.manifest.add("krb5-conf", path, format="krb5.conf", password=None, doc_step=f"{PROCEDURE.heading}, step 3")
    return Done(f"saved {lab.windows_path(file_name)}", artifacts=[(path, "krb5-conf")])

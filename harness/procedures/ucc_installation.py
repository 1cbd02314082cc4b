"""Adding the Certificate to the UC Connector Installation.

``keytool -import -alias "ucc-cert" -file UCC_Certificate.cer -keystore UCC_store.jks``
from the JDK's bin folder. The page never gives the store password keytool asks for; the
lab uses ``genesys`` (the page's startup.bat example password; keytool wants 6+ characters).

Without ``-storetype``, keytool from JDK 9 on writes a PKCS12 file whatever the name says:
the lab does the same with the default ``jdk_version=17``. Java still opens it as "jks"
(``keystore.type.compat``), but tools that trust the name do not.
"""

from __future__ import annotations

from ..artifacts import ArtifactError, keytool_import, read_certificate
from ._framework import Done, Procedure, StepContext, StepFailed

PROCEDURE = Procedure("truststore", "Adding the Certificate to the UC Connector Installation", host="ucc")


@PROCEDURE.step(1)
async def copy_certificate(ctx: StepContext) -> Done:
    """Copy the certificate exported from the Lync host.

    The MTLS path names a trust store (``-key_store_file``) but never makes one; there the
    lab imports ``CompanyA_Certificate.cer`` — whose stated purpose is "to trust servers in
    the domain, such as the Front End" — with this same procedure, and says so.
    """
    manifest = ctx.lab.manifest
    gap = None
    path = manifest.file("lync-trusted-certificate")
    if path is None and manifest.file("ca-certificate") is not None:
        path = manifest.file("ca-certificate")
        gap = (
            "the MTLS procedure asks for a trust store (-key_store_file) but never makes one; "
            f"the lab imports {path.name} from 'Generating the Client Certificate' with keytool"
        )
    if path is None or not path.exists():
        raise StepFailed(
            "truststore-missing-ca",
            "there is no exported Lync trusted certificate to copy",
            "Do 'Exporting the Trusted Certificate from the Lync Skype for Business Host' first.",
        )
    ctx.state["truststore.certificate_file"] = path
    return Done(f"copied {path.name} to {ctx.lab.topology.ucc_fqdn}", gap=gap)


@PROCEDURE.step(2)
async def place_in_jdk_bin(ctx: StepContext) -> Done:
    """Place the certificate in the JDK\\bin folder."""
    return Done(f"placed {ctx.state['truststore.certificate_file'].name} in JDK\\bin")


@PROCEDURE.step(3)
async def keytool_import_certificate(
    ctx: StepContext,
    *,
    alias: str = "ucc-cert",
    keystore: str = "UCC_store.jks",
    storepass: str = "genesys",
    storetype: str | None = None,
    jdk_version: int = 17,
    keep_existing: bool = False,
) -> Done:
    """``keytool -import -alias "ucc-cert" -file UCC_Certificate.cer -keystore UCC_store.jks``.

    A store left by an earlier replay in the same lab is removed first, as if the page
    were followed on a clean host; ``keep_existing`` imports into it instead, and keytool
    then refuses an alias it already holds.
    """
    lab = ctx.lab
    cert_file = ctx.state["truststore.certificate_file"]
    path = lab.artifacts_dir / keystore
    command = f'keytool -import -alias "{alias}" -file {cert_file.name} -keystore {keystore}'
    note = None
    if path.exists() and not keep_existing:
        path.unlink()
        note = f"removed the {keystore} of an earlier replay first"
    if storetype:
        command += f" -storetype {storetype}"
    try:
        keytool_import(path, alias=alias, certificate=read_certificate(cert_file), password=storepass, storetype=storetype, jdk_version=jdk_version)
    except ArtifactError as exc:
        raise StepFailed("keytool-error", f"keytool error: {exc}", "Give keytool a password of at least 6 characters and a new alias.") from exc
    real_type = (storetype or ("pkcs12" if jdk_version >= 9 else "jks")).lower()
    lab.manifest.add("truststore", path, format=real_type, password=storepass, doc_step=f"{PROCEDURE.heading}, step 3")
    if real_type != "jks" and keystore.lower().endswith(".jks"):
        note = (note + "; " if note else "") + f"keytool of JDK {jdk_version} without -storetype wrote a PKCS12 store under the name {keystore}; Java opens it as 'jks' anyway (keystore.type.compat)"
    return Done(f"{command}  (store password {'*' * 8}; 'Trust this certificate? yes')", artifacts=[(path, "truststore")], note=note)


@PROCEDURE.step(4)
async def place_keystore(ctx: StepContext) -> Done:
    """Place the store in a logical location, e.g. ``<ucc_root>\\etc\\MYSTORE.jks``, and note it."""
    store = ctx.lab.manifest.file("truststore")
    assert store is not None
    return Done(f"placed the store at {ctx.lab.windows_path(store.name)}")

"""Start both sandboxes, loaded from a data folder or a seed, and describe how to connect to them.

Used by ``synchub sandbox up`` (foreground), ``synchub demo`` and the pytest fixtures.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import certifi

from sandbox.datadir import SandboxData, read_data_dir, write_data_dir
from sandbox.faults import FaultConfig, FaultInjector
from sandbox.salesforce.app import create_app as create_salesforce_app
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.schema import API_VERSION
from sandbox.sap.app import create_app as create_sap_app
from sandbox.sap.system import SapSystem
from sandbox.seed import SeedOptions, generate
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls

DEFAULT_CRM_PORT = 8443
DEFAULT_ERP_PORT = 44300


@dataclass
class SandboxConfig:
    data_dir: Path | None = None
    seed: SeedOptions | None = None
    host: str = "127.0.0.1"
    crm_port: int = DEFAULT_CRM_PORT
    erp_port: int = DEFAULT_ERP_PORT
    erp_https: bool = True
    state_dir: Path = Path("var/sandbox")
    page_size: int = 0  # SAP server-driven page size (__next); 0: no server paging, as many gateways
    batch_stops_at_failure: bool = True  # SAP $batch: stop at the first failed changeset
    crm_synchub_fields: bool = True  # False: an org without SyncHub's custom fields (setup/salesforce)
    # SAP customers numbered as their business partners (CVI "same numbers"); False: their own range.
    # Applies to the seed too.
    same_customer_numbers: bool = False
    # SAP's standard BP grouping, used by creates that name none; None: such creates are refused.
    standard_grouping: str | None = None
    # A folder of OData V2 $metadata files, <SERVICE>.edmx or .xml (e.g. SAP's published models from
    # the SAP Business Accelerator Hub): the SAP sandbox answers $metadata with them.
    sap_metadata_dir: Path | None = None
    daily_api_limit: int = 1_000_000
    crm_faults: FaultConfig = field(default_factory=FaultConfig)
    erp_faults: FaultConfig = field(default_factory=FaultConfig)


@dataclass
class RunningSandboxes:
    config: SandboxConfig
    tls: TlsFiles
    ca_bundle: Path
    org: SalesforceOrg
    sap: SapSystem
    crm_faults: FaultInjector
    erp_faults: FaultInjector
    crm: ServerHandle
    erp: ServerHandle
    truth: dict[str, Any] | None = None

    @property
    def crm_url(self) -> str:
        return self.crm.url

    @property
    def erp_url(self) -> str:
        return self.erp.url

    def crm_connection(self) -> dict[str, Any]:
        """An Airflow connection (JSON form) that the salesforce provider's SalesforceHook takes as is.

        simple-salesforce builds its token URL as ``https://{domain}.salesforce.com/services/oauth2/token``;
        a domain ending in ``#`` turns the rest into a URL fragment, which is never sent, so the OAuth
        password flow reaches the sandbox's own token endpoint.
        """
        return {
            "conn_type": "salesforce",
            "login": self.org.username,
            "password": self.org.password,
            "extra": {
                "consumer_key": self.org.consumer_key,
                "consumer_secret": self.org.consumer_secret,
                "domain": f"{self.config.host}:{self.crm.port}/services/oauth2/token#",
                "version": API_VERSION,
            },
        }

    def erp_connection(self) -> dict[str, Any]:
        """An Airflow ``http`` connection to the SAP sandbox (basic auth, sap-client, CA bundle)."""
        user, password = next(iter(self.sap.users.items()))
        return {
            "conn_type": "http",
            "host": self.config.host,
            "port": self.erp.port,
            "schema": "https" if self.config.erp_https else "http",
            "login": user,
            "password": password,
            # The http provider's verify extra: the CA file that trusts the sandbox (and the public CAs).
            "extra": {"sap-client": self.sap.sap_client, "verify": str(self.ca_bundle)},
        }

    def env_lines(self) -> list[str]:
        return [
            f"export AIRFLOW_CONN_SYNCHUB_CRM={shlex.quote(json.dumps(self.crm_connection()))}",
            f"export AIRFLOW_CONN_SYNCHUB_ERP={shlex.quote(json.dumps(self.erp_connection()))}",
            f"export REQUESTS_CA_BUNDLE={shlex.quote(str(self.ca_bundle))}",
        ]

    def write_env(self, path: Path) -> Path:
        """Write the export lines; the file appears whole (a reader never sees half of it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(
            f"# Written by `synchub sandbox up`; use with: source {path}\n"
            + "\n".join(self.env_lines())
            + "\n"
        )
        partial.chmod(0o600)
        os.replace(partial, path)
        return path

    def dump(self, directory: Path) -> Path:
        """Write the sandboxes' current state in the data-folder layout (``--data`` reads it back)."""
        write_data_dir(directory, SandboxData(salesforce=self.org.dump(), sap=self.sap.dump()))
        return directory

    def stop(self) -> None:
        self.crm.stop()
        self.erp.stop()


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of an env file that ``write_env`` wrote (what ``source`` would set)."""
    exports = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = shlex.split(value)[0]
    return exports


def ca_bundle_with_sandbox(tls: TlsFiles, directory: Path) -> Path:
    """The public CAs plus the sandbox CA, so REQUESTS_CA_BUNDLE still trusts real systems too."""
    bundle = directory / "ca-bundle.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + tls.ca_cert.read_bytes())
    return bundle


def load_sap_metadata(directory: Path) -> dict[str, bytes]:
    """``<SERVICE>.edmx`` / ``.xml`` files of a folder, by service; each must be OData V2 metadata of a
    service the SAP sandbox serves (a ``ValueError`` names the file and what is wrong)."""
    from lxml import etree

    from sandbox.sap.model import SERVICES

    found: dict[str, bytes] = {}
    files = sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in (".edmx", ".xml"))
    if not files:
        raise ValueError(f"{directory}: no <SERVICE>.edmx or .xml metadata file in it")
    for path in files:
        if path.stem not in SERVICES:
            raise ValueError(f"{path}: not a service the SAP sandbox serves ({', '.join(SERVICES)})")
        content = path.read_bytes()
        try:
            root = etree.fromstring(content)
        except etree.XMLSyntaxError as exc:
            raise ValueError(f"{path}: not XML: {exc}") from None
        version = root.get("Version")
        if etree.QName(root).localname != "Edmx" or version != "1.0":
            raise ValueError(f"{path}: not OData V2 metadata (edmx:Edmx Version {version!r}, not '1.0')")
        found[path.stem] = content
    return found


def start_sandboxes(config: SandboxConfig) -> RunningSandboxes:
    """Load the data (folder, seed, or nothing), then serve both sandboxes on background threads."""
    # Absolute paths: they are printed and written to the env file for use from anywhere.
    state_dir = config.state_dir.resolve()
    tls = ensure_tls(state_dir / "tls")
    bundle = ca_bundle_with_sandbox(tls, state_dir / "tls")
    truth = None
    if config.data_dir is not None:
        data = read_data_dir(config.data_dir)
        truth_file = config.data_dir / "truth.json"
        truth = json.loads(truth_file.read_text()) if truth_file.exists() else None
    elif config.seed is not None:
        data, truth = generate(replace(config.seed, same_customer_numbers=config.same_customer_numbers))
    else:
        data = SandboxData(salesforce={}, sap={})

    # Without SyncHub's fields the setup kit is not deployed, nor its permission set (Edit Activated
    # Orders).
    org = SalesforceOrg(
        daily_api_limit=config.daily_api_limit,
        synchub_fields=config.crm_synchub_fields,
        edit_activated_orders=config.crm_synchub_fields,
    )
    org.load(data.salesforce)
    sap = SapSystem(
        page_size=config.page_size,
        batch_stops_at_failure=config.batch_stops_at_failure,
        same_customer_numbers=config.same_customer_numbers,
        standard_grouping=config.standard_grouping,
        metadata=load_sap_metadata(config.sap_metadata_dir) if config.sap_metadata_dir else None,
    )
    sap.load(data.sap)
    crm_faults = FaultInjector(config.crm_faults)
    erp_faults = FaultInjector(config.erp_faults)
    crm = serve(create_salesforce_app(org, crm_faults), host=config.host, port=config.crm_port, tls=tls)
    try:
        erp = serve(
            create_sap_app(sap, erp_faults),
            host=config.host,
            port=config.erp_port,
            tls=tls if config.erp_https else None,
        )
    except BaseException:
        crm.stop()
        raise
    return RunningSandboxes(config, tls, bundle, org, sap, crm_faults, erp_faults, crm, erp, truth)

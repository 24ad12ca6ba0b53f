"""``SapConnector``: the Connector for SAP S/4HANA (OData V2), built from an Airflow connection."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.base import (
    ApiUsage,
)
from connectors.errors import (
    ConfigError,
    redact,
)
from connectors.sap.batch import Batches
from connectors.sap.check import Checks
from connectors.sap.read import Reads
from connectors.sap.session import Gateway, SapSession, Transport
from connectors.sap.settings import (
    DEFAULT_CONN_ID,
    DEFAULT_SERVICE_PATH,
    SYSTEM,
    SapSettings,
    config_error,
    extras_reader,
)
from connectors.sap.write import Writes


def ca_bundle_of(extras: Mapping[str, Any], conn_id: str) -> str | None:
    """The CA file to verify the ERP's certificate with (None: the system's CAs); a config error for a
    file that does not exist or for verification turned off.

    The http provider's own ``verify`` extra (``HttpHook`` hands it to requests): ``true`` for the system's
    CAs, or the path of a CA file. ``synchub_ca_bundle`` (before: ``ca_bundle``) is still read when
    ``verify`` names no file. Verification is never off: ``verify: false`` is refused.
    """
    verify = extras.get("verify")
    text = str(verify).strip() if verify is not None else ""
    if verify is False or text.lower() in ("false", "0", "no", "off"):
        raise config_error(
            conn_id,
            "verify",
            "TLS verification cannot be turned off; set verify to the CA file that signs the ERP's "
            "certificate (or true for the system's CAs)",
        )
    if verify is not True and text and text.lower() not in ("true", "1", "yes", "on"):
        path, field = text, "verify"
    else:
        path, field = extras_reader(extras, conn_id).text("ca_bundle"), "synchub_ca_bundle"
    if path and not Path(path).is_file():
        raise config_error(conn_id, field, f"no such file: {path}")
    return path


class SapConnector(Transport, Reads, Writes, Batches, Checks):
    """The Connector for SAP S/4HANA (OData V2); see the module docstring for the behaviour."""

    system = SYSTEM

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        *,
        sap_client: str | None = None,
        service_paths: Mapping[str, str] | None = None,
        ca_bundle: str | None = None,
        settings: SapSettings | None = None,
        conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.conn_id = conn_id
        self.settings = settings or SapSettings()
        self.settings.validate(conn_id)
        self.service_paths = dict(service_paths or {})
        self.usage = ApiUsage()
        self._password = password
        self._lock = threading.RLock()
        self._services: dict[str, Gateway] = {}
        self._csrf_token: str | None = None
        self.session = SapSession(timeout=self.settings.timeout, ca_bundle=ca_bundle)
        self.session.auth = (user, password)
        if sap_client:
            # SAP's ICF takes the client as a header as well as the sap-client URL parameter; a header
            # survives __next links and $batch parts unchanged.
            self.session.headers["sap-client"] = str(sap_client)

    def __repr__(self) -> str:
        return f"SapConnector({self.base_url!r}, user={self.user!r}, conn_id={self.conn_id!r})"

    @classmethod
    def from_airflow(
        cls, conn_id: str = DEFAULT_CONN_ID, settings: SapSettings | None = None
    ) -> SapConnector:
        """Build the connector from the Airflow ``http`` connection ``conn_id`` (extras read by name)."""
        from connectors.airflow_connection import airflow_connection  # Airflow is heavy: imported here

        try:
            conn = airflow_connection(conn_id)
        except Exception as exc:  # AirflowNotFoundException and backend errors
            raise ConfigError(
                f"connection {conn_id!r} cannot be read: {type(exc).__name__}: {redact(str(exc))}",
                system=SYSTEM,
                operation="config",
            ) from None
        extras = conn.extra_dejson or {}
        reader = extras_reader(extras, conn_id)
        host = (conn.host or "").strip()
        if not host:
            raise config_error(conn_id, "host", "the connection has no host")
        scheme = (conn.schema or "").strip().lower() or "https"
        if "://" in host:  # some people put the whole URL into the host field
            parts = urlsplit(host)
            scheme, host = parts.scheme.lower(), parts.netloc
        if scheme not in ("https", "http"):
            raise config_error(conn_id, "schema", f"expected https or http, got {conn.schema!r}")
        ca_bundle = ca_bundle_of(extras, conn_id)
        paths = reader.raw("service_paths")
        if isinstance(paths, str):
            try:
                paths = json.loads(paths)
            except ValueError:
                raise config_error(conn_id, "synchub_service_paths", "expected a JSON object") from None
        if paths is not None and (
            not isinstance(paths, dict)
            or not all(isinstance(v, str) and v.startswith("/") for v in paths.values())
        ):
            raise config_error(
                conn_id, "synchub_service_paths", "expected {service: '/path/'} with absolute paths"
            )
        if not conn.login:
            raise config_error(conn_id, "login", "the connection has no login (SAP user)")
        port = f":{conn.port}" if conn.port else ""
        return cls(
            f"{scheme}://{host}{port}",
            conn.login,
            conn.password or "",
            sap_client=str(extras.get("sap-client") or "").strip() or None,  # SAP's own name for it
            service_paths=paths,
            ca_bundle=ca_bundle,
            settings=(settings or SapSettings()).with_extras(extras, conn_id),
            conn_id=conn_id,
        )

    def service_url(self, service: str) -> str:
        path = self.service_paths.get(service) or DEFAULT_SERVICE_PATH.format(service=service)
        return self.base_url + "/" + path.strip("/") + "/"

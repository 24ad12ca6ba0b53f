"""``SalesforceConnector``: the Connector for Salesforce, built from an Airflow connection."""

from __future__ import annotations

import threading
from typing import Any

from connectors.base import (
    ApiUsage,
)
from connectors.errors import (
    ConfigError,
)
from connectors.salesforce.check import Checks
from connectors.salesforce.read import Reads
from connectors.salesforce.session import SalesforceTransport, Session
from connectors.salesforce.settings import DEFAULT_CONN_ID, SYSTEM, SalesforceSettings
from connectors.salesforce.values import ObjectInfo
from connectors.salesforce.write import Writes


class SalesforceConnector(Session, Reads, Writes, Checks):
    """Extract, reconcile, write and check one Salesforce org (the Connector protocol)."""

    system = SYSTEM

    def __init__(self, hook: Any, settings: SalesforceSettings | None = None, *, conn_id: str = "") -> None:
        """``hook``: a SalesforceHook built with ``session=SalesforceTransport(...)`` (see from_airflow)."""
        self.settings = settings or SalesforceSettings()
        self.conn_id = conn_id or getattr(hook, "conn_id", "")
        self.usage = ApiUsage()
        self._hook = hook
        if not isinstance(getattr(hook, "session", None), SalesforceTransport):
            raise TypeError("the hook must be built with session=SalesforceTransport(...)")
        self.transport: SalesforceTransport = hook.session
        self.transport.usage = self.usage
        self.transport.refresher = self._refresh_session
        self._sf: Any = None
        self._client_lock = threading.RLock()
        self._describe: dict[str, ObjectInfo] = {}
        self._describe_lock = threading.Lock()

    @classmethod
    def from_airflow(
        cls, conn_id: str = DEFAULT_CONN_ID, settings: SalesforceSettings | None = None
    ) -> SalesforceConnector:
        """A connector on the Airflow connection ``conn_id`` (``AIRFLOW_CONN_SYNCHUB_CRM`` in the env).

        Settings come from the connection's ``synchub_*`` extras unless given. Nothing is called
        until the first operation (so ``check`` can report a failing login as a verdict).
        """
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        from connectors.airflow_connection import airflow_connection

        try:
            connection = airflow_connection(conn_id)
        except Exception as exc:  # Airflow raises its own not-found type
            raise ConfigError(
                f"Airflow connection {conn_id!r} is not defined ({type(exc).__name__}); add it with "
                f"`airflow connections add {conn_id}`, set AIRFLOW_CONN_{conn_id.upper()} or add it to a "
                "secrets backend",
                system=SYSTEM,
                operation="configure",
            ) from None
        if settings is None:
            settings = SalesforceSettings.from_extras(conn_id, connection.extra_dejson)
        transport = SalesforceTransport(settings, ApiUsage())
        extras = connection.extra_dejson
        transport.add_secrets(
            connection.password,
            extras.get("security_token"),
            extras.get("consumer_secret"),
            extras.get("private_key"),
        )

        class ResolvedSalesforceHook(SalesforceHook):
            """The provider's hook on the connection found above (the metastore's too, outside a task)."""

            @classmethod
            def get_connection(cls, wanted: str) -> Any:
                return connection if wanted == conn_id else super().get_connection(wanted)

        hook = ResolvedSalesforceHook(salesforce_conn_id=conn_id, session=transport)
        return cls(hook, settings, conn_id=conn_id)

"""SAP S/4HANA connector: OData V2 through pyodata on a requests session, configured by an Airflow connection.

What it does, and why:

- **Connection.** An Airflow ``http`` connection (default id ``synchub_erp``; env form
  ``AIRFLOW_CONN_SYNCHUB_ERP``): host, port, schema (https, or http), login and password (Basic auth).
  Extras, read by name: ``sap-client``, ``verify`` (the http provider's own: a CA file or true;
  ``synchub_ca_bundle`` is still read), ``service_paths`` ({service: path}), and the ``SapSettings``
  knobs (``page_size``, ``batch_size``, ``timeout``, ``look_back_seconds``, ``stamp_timezone``,
  ``retry_*``). TLS verification is always on; a CA file named by the connection wins over
  REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment.
- **Reads.** One pyodata client per service (``$metadata`` fetched once). The delta filter follows the
  stamps each entity set really has (``SapSource.stamp``): LastChangeDate + LastChangeTime for partners,
  LastChangeDateTime for products and orders, none for condition records (always a full read). Server
  paging (``__next``) is followed and every server page becomes one ``Page``: memory stays flat.
  Payloads are plain JSON values: dates as ISO strings (``YYYY-MM-DD`` for date-only properties),
  date-times as UTC ISO strings, ``Edm.Time`` as ``HH:MM:SS``, decimals as strings exactly as SAP
  sends them, expanded navigations as lists (to-many) or dicts (to-one); entities with an ETag carry it
  under ``__etag``. SAP has no tombstones: ``extract_all_keys`` gives the live key set to diff.
- **Writes.** ``$batch`` requests of ``batch_size`` records, one changeset per record (a changeset is
  atomic, so one bad record never rolls back another), deep inserts for creates, MERGE of the changed
  properties for updates (diffed against ``expected``), MERGE of changed children that exist and POST
  of new children. An update without ``expected`` (or whose ``expected`` lacks a navigation it writes)
  is diffed against SAP's current state, read first (one GET per 50 records): only so can an existing
  keyless child (the partner's address) be told from a new one and never be added twice.
  Entity sets with an ETag (``ConcurrencyMode="Fixed"`` in
  ``$metadata``, e.g. A_SalesOrder) are written with If-Match: ``expected["__etag"]`` or, without it,
  the ETag read just before. A 412 is resolved by re-reading: if SAP already holds the wanted values
  the record is ``updated``; if none of the changed properties moved since ``expected`` the MERGE is
  retried once with the new ETag; otherwise the record fails with ``ETAG_MISMATCH``.
- **Idempotency.** Creates carry an idempotency value: ``BusinessPartnerIDByExtSystem`` (partners) or
  ``ExternalDocumentID`` (sales orders), set to the SyncHub key when the record does not set it and the
  key fits the property's length. When a ``$batch`` with creates may have landed (timeout, connection
  lost, 500/502/504), the creates are looked up by that value before the retry; those found are
  reported ``created`` with their key and not sent again. Reruns pass ``remote_key`` (the xref), so a
  rerun updates or finds the record unchanged and never creates it again.
- **Errors.** Every HTTP call runs under ``call_with_retry``: 429/5xx/timeouts are retried (honouring
  Retry-After); 401 is an ``AuthError`` naming the connection and user; a 403 ``x-csrf-token: Required``
  refetches the token once; a 4xx on a read is a ``ConfigError`` naming the entity set and SAP's message;
  a 4xx on a record becomes that record's ``failed`` outcome (SAP's error code and message).
"""

from __future__ import annotations

from connectors.sap.connector import SapConnector
from connectors.sap.session import SapSession, sap_error
from connectors.sap.settings import DEFAULT_CONN_ID, IDEMPOTENCY_FIELDS, SYSTEM, SapSettings
from connectors.sap.values import record_of, stamp_of

__all__ = [
    "DEFAULT_CONN_ID",
    "IDEMPOTENCY_FIELDS",
    "SYSTEM",
    "SapConnector",
    "SapSession",
    "SapSettings",
    "record_of",
    "sap_error",
    "stamp_of",
]

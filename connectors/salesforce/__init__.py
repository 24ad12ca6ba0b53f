"""The Salesforce connector: SOQL extraction (REST or Bulk API 2.0), upserts by external id, checks.

Built on the salesforce provider's ``SalesforceHook`` (so username/password, OAuth, JWT and session
id connections all work) and the unmodified simple-salesforce client. Every HTTP call goes through
one ``requests`` session (:class:`SalesforceTransport`) that sets a timeout, honours an explicit CA,
counts calls by operation, reads ``Sforce-Limit-Info``, stops before the API reserve is touched,
retries 429/5xx/timeouts/lock errors with backoff, and refreshes an expired session once. Handing
the session to the hook covers the REST calls and every step of a Bulk API 2.0 job alike.

Extraction: ``queryAll`` so deletes show up as ``IsDeleted`` rows, ``SystemModstamp >= since -
look-back`` (``>=``: a change in the watermark's own second is never lost), ordered by stamp then
Id, one page per API page. Above a size (``SELECT COUNT()`` with the same filter) a Bulk API 2.0
query job is used instead; its CSV is typed back through describe so both paths yield identical
records. Payloads are flat: ``{"Id": ..., "Name": ..., "Account.SAP_Customer_Number__c": ...}``
keyed exactly as the mapping names the fields, children as a list under their relationship name.

Writes: upsert on the external id through sObject Collections (200 records per call) or, from a
threshold on, a Bulk API 2.0 ingest job whose result files are mapped back to every record.
"""

from __future__ import annotations

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.session import SalesforceTransport
from connectors.salesforce.settings import (
    DEFAULT_CONN_ID,
    EXTRA_PREFIX,
    SETUP_KIT,
    SYSTEM,
    SalesforceSettings,
)
from connectors.salesforce.soql import parse_stamp, record_of, soql_literal, soql_name

__all__ = [
    "DEFAULT_CONN_ID",
    "EXTRA_PREFIX",
    "SETUP_KIT",
    "SYSTEM",
    "SalesforceConnector",
    "SalesforceSettings",
    "SalesforceTransport",
    "parse_stamp",
    "record_of",
    "soql_literal",
    "soql_name",
]

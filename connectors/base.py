"""The common surface of every connector, and the per-system description of an entity.

An entity (customer, product, price, order) is described per system by a source definition:
which object or entity set holds it, its key, its change stamp and what to read. The
definitions come from ``mappings/<entity>.yaml`` (``mdm.config``); connectors only read them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

System = Literal["salesforce", "sap"]
WriteStatus = Literal["created", "updated", "unchanged", "failed"]


@dataclass(frozen=True)
class SalesforceChild:
    """Child rows read with their parent (e.g. OrderItem under Order), attached under ``relationship``."""

    object: str
    parent_field: str  # the child's lookup to the parent, e.g. OrderId
    relationship: str  # where the children go in the parent's payload, e.g. OrderItems
    fields: tuple[str, ...]
    external_id: str | None = None


@dataclass(frozen=True)
class SalesforceSource:
    object: str
    fields: tuple[str, ...]  # fields to read, parent relationship paths allowed (Account.Name)
    key: str = "Id"
    stamp: str = "SystemModstamp"
    external_id: str | None = "SyncHub_Id__c"  # upsert key for writes
    where: str | None = None  # a fixed filter from the mapping (configuration, never user data)
    children: tuple[SalesforceChild, ...] = ()
    writable: tuple[str, ...] = ()  # fields SyncHub may write (checked by `connections test`)


SapStamp = Literal["date+time", "datetime", "none"]


@dataclass(frozen=True)
class SapSource:
    service: str  # e.g. API_BUSINESS_PARTNER
    entity_set: str  # e.g. A_BusinessPartner
    keys: tuple[str, ...]
    stamp: SapStamp  # date+time: LastChangeDate + LastChangeTime; datetime: LastChangeDateTime; none
    expand: tuple[str, ...] = ()  # navigation paths read with the entity, e.g. to_BusinessPartnerAddress
    filter: str | None = None  # a fixed $filter from the mapping (configuration)
    writable: tuple[str, ...] = ()  # properties SyncHub may write, paths allowed (to_X/Prop)
    external_id: str | None = None  # where SAP keeps SyncHub's golden id (BusinessPartnerIDByExtSystem)

    @property
    def stamp_fields(self) -> tuple[str, ...]:
        return {
            "date+time": ("LastChangeDate", "LastChangeTime"),
            "datetime": ("LastChangeDateTime",),
            "none": (),
        }[self.stamp]


@dataclass(frozen=True)
class EntitySource:
    entity: str
    salesforce: SalesforceSource
    sap: SapSource

    def external_id(self, system: str) -> str | None:
        """Where the system keeps SyncHub's golden id: the mapping's ``external_id`` of that system."""
        return self.salesforce.external_id if system == "salesforce" else self.sap.external_id


@dataclass
class ExtractedRecord:
    """One record as the system holds it: its key, raw payload, change stamp and deletion flag."""

    key: str
    payload: dict[str, Any]
    stamp: dt.datetime | None = None
    is_deleted: bool = False


@dataclass
class Page:
    system: System
    entity: str
    records: list[ExtractedRecord]
    # The highest change stamp on this page: a caller may move its watermark there once the page is stored
    # when ``ordered`` (the extraction's pages come in stamp order), else once every page is stored.
    max_stamp: dt.datetime | None = None
    ordered: bool = False


@dataclass
class WriteRecord:
    """A record to write, already in the target system's shape.

    ``key`` is the caller's identity of the record (SyncHub's id), echoed in the outcome.
    ``remote_key`` is the system's key when SyncHub already knows it (update), else None.
    ``expected`` is the system's state as last read; a record equal to it is ``unchanged``
    and costs no call.
    """

    key: str
    fields: dict[str, Any]
    remote_key: str | None = None
    expected: dict[str, Any] | None = None


@dataclass
class WriteOutcome:
    key: str
    status: WriteStatus
    remote_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class CheckResult:
    """One verdict of ``synchub connections test``."""

    system: System
    check: str  # e.g. "auth", "metadata", "fields:customer"
    ok: bool
    detail: str = ""
    warning: bool = False  # ok, but worth a look (e.g. a configured value SAP has not been seen to use)


@dataclass
class ApiUsage:
    calls: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)

    def count(self, operation: str, n: int = 1) -> None:
        self.calls += n
        self.by_operation[operation] = self.by_operation.get(operation, 0) + n


class Connector(Protocol):
    system: System
    usage: ApiUsage

    def extract_changed(self, entity: EntitySource, since: dt.datetime | None) -> Iterator[Page]:
        """Pages of records changed at or after ``since`` (all records when None); deletes included."""

    def extract_all_keys(self, entity: EntitySource) -> Iterator[list[str]]:
        """Pages of the keys of every live record, for full reconciliation and delete detection."""

    def read_keys(self, entity: EntitySource, keys: Sequence[str]) -> list[ExtractedRecord]:
        """The live records with these keys, as ``extract_changed`` gives them (missing keys absent)."""

    def write_batch(self, entity: EntitySource, records: Sequence[WriteRecord]) -> list[WriteOutcome]:
        """Write the records; one outcome per record, in order."""

    def keys_for_external_ids(self, entity: EntitySource, external_ids: Sequence[str]) -> dict[str, str]:
        """The keys of the live records holding these external ids (SyncHub's ids), by external id: what
        an earlier, interrupted run already created."""

    def check(self, entities: Sequence[EntitySource]) -> list[CheckResult]:
        """Auth and reachability, metadata, and that the mapped fields exist and are writable."""

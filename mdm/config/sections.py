"""The smaller sections of a mapping: ``orders:`` (order.yaml), ``quality:`` (every entity) and each
system's publish options (``create``, ``create_when``, ``read_back_created``, ``retire_duplicates``,
``publish``), each read once here from the schema-valid YAML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_FAILED_SHARE = 0.05  # more than this share of a system's batch failing stops the run
DEFAULT_MIN_RECORDS = 20  # smaller batches are not held to the share (one bad record of five is not 20 %)
DEFAULT_SEND_WHEN = "Activated"  # the CRM order status category that sends an order to SAP


@dataclass(frozen=True)
class OrderSettings:
    """The ``orders:`` section of mappings/order.yaml."""

    send_when_status_category: str
    header: dict[str, Any]
    currency: str
    item_amounts: bool

    @classmethod
    def from_dict(cls, section: Mapping[str, Any]) -> OrderSettings:
        return cls(
            send_when_status_category=str(section.get("send_when_status_category") or DEFAULT_SEND_WHEN),
            header=dict(section["header"]),
            currency=section["currency"],
            item_amounts=section.get("item_amounts", True),
        )


def order_is_due(payload: Mapping[str, Any], category: str) -> bool:
    """Whether a staged CRM order is to be sent: its status category (StatusCode) is ``category``."""
    return str(payload.get("StatusCode") or "") == category


@dataclass(frozen=True)
class QualitySettings:
    """The ``quality:`` section of an entity mapping (the defaults when it has none)."""

    max_failed_share: float = DEFAULT_MAX_FAILED_SHARE
    min_records: int = DEFAULT_MIN_RECORDS

    @classmethod
    def from_dict(cls, section: Mapping[str, Any] | None) -> QualitySettings:
        section = section or {}
        return cls(
            max_failed_share=float(section.get("max_failed_share", DEFAULT_MAX_FAILED_SHARE)),
            min_records=int(section.get("min_records", DEFAULT_MIN_RECORDS)),
        )


@dataclass(frozen=True)
class WriteSettings:
    """The ``writes:`` section of an entity mapping: when rejected writes fail the Airflow run.

    A write Salesforce or SAP refuses goes to the error queue either way; when the rejected share of a
    run's writes (rejected / (written + rejected), over every write step) is above
    ``max_rejected_share``, the run's close_run task fails naming the count and ``synchub errors list``,
    so Airflow's alerting hears of it. The default, 0, fails the run on any rejected write.
    """

    max_rejected_share: float = 0.0

    @classmethod
    def from_dict(cls, section: Mapping[str, Any] | None) -> WriteSettings:
        section = section or {}
        return cls(max_rejected_share=float(section.get("max_rejected_share", 0.0)))


@dataclass(frozen=True)
class PublishOptions:
    """How SyncHub writes an entity's golden records to one system (``systems.<system>`` of the mapping)."""

    create: bool = True  # records the system lacks are created there
    create_when: str | None = None  # a boolean canonical field that must be true for a create
    read_back_created: bool = False  # created records are read back at once (numbers the system assigns)
    retire_duplicates: dict[str, Any] = field(default_factory=dict)  # values for extra copies in one system
    rules: dict[str, Any] = field(default_factory=dict)  # the ``publish:`` rules as written

    @classmethod
    def from_dict(cls, section: Mapping[str, Any]) -> PublishOptions:
        return cls(
            create=bool(section.get("create", True)),
            create_when=section.get("create_when"),
            read_back_created=bool(section.get("read_back_created", False)),
            retire_duplicates=dict(section.get("retire_duplicates") or {}),
            rules=dict(section.get("publish") or {}),
        )

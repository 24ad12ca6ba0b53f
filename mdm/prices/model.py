"""What the price sync keeps while it runs: constants, entries as staged, the entries wanted, the
writes planned, the counts."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from connectors.base import WriteRecord
from mdm.config.pricing import (
    PricebookConfig,
)
from mdm.prices.conditions import Condition

log = logging.getLogger(__name__)


PRODUCT_ENTITY = "product"


PRICEBOOK_ENTITY = "pricebook"  # staged Pricebook2 records (source_record, system salesforce)


WRITE_CHUNK = 1000  # records per connector call


CHUNK = 500  # keys per IN list


MAX_ERRORS = 500  # failed records listed in the stats (all are counted)


EXAMPLES = 20


PRICEBOOK_FIELDS = ("Name", "IsActive", "IsStandard", "SyncHub_Id__c")


class PriceSyncError(RuntimeError):
    """A problem that stops the whole sync (e.g. the org has no standard pricebook)."""


EntryKey = tuple[str, str, str | None]  # (Pricebook2Id, Product2Id, currency in a multi-currency org)


@dataclass
class Entry:
    """A pricebook entry as last staged from Salesforce."""

    id: str
    pricebook_id: str
    product_id: str
    currency: str | None
    unit_price: Decimal | None
    is_active: bool
    use_standard_price: bool
    condition_record: str | None
    synchub_id: str | None
    payload: dict[str, Any]  # the raw record: what the connector compares a write with


@dataclass
class Want:
    """The entry a pricebook should hold for a product."""

    key: str  # its SyncHub id
    pricebook: PricebookConfig
    pricebook_id: str
    product_id: str
    currency: str
    unit_price: Decimal
    active: bool
    condition: Condition | None  # None: the inactive standard entry a custom price needs


@dataclass
class PriceWrite:
    kind: Literal["create", "update", "deactivate"]
    record: WriteRecord
    pricebook: PricebookConfig
    product_id: str
    currency: str | None  # in a multi-currency org


@dataclass
class Counts:
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # For the error queue: every failure (operation, key, code, message, fields sent), and the keys
    # written or found already right.
    failures: list[tuple[str, str, str, str, dict[str, Any]]] = field(default_factory=list)
    settled: set[str] = field(default_factory=set)

    def fail(self, write: PriceWrite, code: str, message: str) -> None:
        self.counts["failed"] += 1
        self.failures.append((write.kind, write.record.key, code, message, dict(write.record.fields)))
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(
                {
                    "key": write.record.key,
                    "remote_key": write.record.remote_key,
                    "pricebook": write.pricebook.key,
                    "code": code,
                    "message": message,
                }
            )


def primary_copy(copies: Sequence[tuple[str, bool, bool]], last_written: str | None) -> str:
    """Of (Product2 Id, carries the golden id, SyncHub created it) copies, the one publishing keeps active."""
    for product_id, carries, _ in copies:
        if carries:
            return product_id
    if last_written in {product_id for product_id, _, _ in copies}:
        return str(last_written)
    ours = sorted(product_id for product_id, _, by_us in copies if by_us)
    return ours[0] if ours else min(product_id for product_id, _, _ in copies)


def decimal_of(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None

"""The valid price, as plain data: SAP condition records, the one valid on a day per material,
sales organisation, channel and currency, and the SyncHub id of a pricebook entry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NamedTuple

from mdm.config.pricing import (
    PricebookConfig,
    PriceSource,
)

OPEN_END = dt.date(9999, 12, 31)  # SAP's "valid until further notice"


# Salesforce currency fields keep two decimals: a price with more would come back rounded, and differ.
UNIT_PRICE_STEP = Decimal("0.01")


class PriceKey(NamedTuple):
    material: str
    sales_org: str
    distribution_channel: str
    currency: str


@dataclass(frozen=True)
class Condition:
    """One usable condition record: a rate for a material in a sales area and currency, for a window."""

    record: str
    material: str
    sales_org: str
    distribution_channel: str
    currency: str
    rate: Decimal
    valid_from: dt.date
    valid_to: dt.date = OPEN_END  # inclusive
    per_quantity: Decimal = Decimal(1)  # the rate is for this many units

    @property
    def key(self) -> PriceKey:
        return PriceKey(self.material, self.sales_org, self.distribution_channel, self.currency)

    @property
    def source(self) -> PriceSource:
        return PriceSource(self.sales_org, self.distribution_channel, self.currency)

    def is_valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_to

    @property
    def unit_price(self) -> Decimal:
        """The price of one unit, as Salesforce keeps it (two decimals)."""
        return (self.rate / self.per_quantity).quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)


def valid_prices(conditions: Iterable[Condition], day: dt.date) -> dict[PriceKey, Condition]:
    """Per material, sales org, channel and currency, the condition valid on ``day`` (both ends inclusive).

    Where windows overlap, the one that started last wins: in SAP a newer condition record overrides
    an older one for the period it covers. The same start: the higher record number (the newer record).
    A price that starts after ``day`` is not valid yet; an open end (9999-12-31) never expires.
    """
    best: dict[PriceKey, Condition] = {}
    for condition in conditions:
        if not condition.is_valid_on(day):
            continue
        current = best.get(condition.key)
        if current is None or _recency(condition) > _recency(current):
            best[condition.key] = condition
    return best


def _recency(condition: Condition) -> tuple[dt.date, str]:
    return condition.valid_from, condition.record.zfill(10)


def condition_from_values(
    key: str, values: Mapping[str, Any], condition_type: str
) -> tuple[Condition | None, str | None]:
    """A staged condition record's canonical values as a Condition, or (None, why it is not used)."""
    if values.get("condition_type") not in (None, condition_type):
        return None, "other_condition_type"
    if values.get("marked_for_deletion"):
        return None, "marked_for_deletion"
    if values.get("release_status"):
        return None, "not_released"  # blocked, or released for simulation only
    needed = ("material", "sales_org", "distribution_channel", "currency", "unit_price", "valid_from")
    if any(values.get(name) in (None, "") for name in needed):
        return None, "incomplete"
    try:
        rate = Decimal(str(values["unit_price"]))
        per = Decimal(str(values.get("price_quantity") or 1))
        valid_from = dt.date.fromisoformat(str(values["valid_from"]))
        valid_to = dt.date.fromisoformat(str(values["valid_to"])) if values.get("valid_to") else OPEN_END
    except (InvalidOperation, ValueError):
        return None, "incomplete"
    if per <= 0:
        return None, "incomplete"
    condition = Condition(
        record=str(values.get("condition_record") or key),
        material=str(values["material"]),
        sales_org=str(values["sales_org"]),
        distribution_channel=str(values["distribution_channel"]),
        currency=str(values["currency"]),
        rate=rate,
        valid_from=valid_from,
        valid_to=valid_to,
        per_quantity=per,
    )
    return condition, None


def entry_id(pricebook: PricebookConfig, product_id: str, currency: str) -> str:
    """SyncHub's id of an entry (its SyncHub_Id__c): ``<pricebook key>:<Product2 Id>:<currency>``, at most 49
    characters (key 24, Id 18, currency 5)."""
    return f"{pricebook.key}:{product_id}:{currency}"

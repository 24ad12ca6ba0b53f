"""The ``pricing:`` section of ``mappings/price.yaml``: which SAP condition records fill which Salesforce
pricebook (``mdm.prices`` does the sync)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENTITY = "price"
STANDARD_KEY = "STD"  # the standard pricebook's part of an entry's SyncHub id
# What the sync writes to PricebookEntry (plus the currency field in a multi-currency org).
ENTRY_FIELDS = (
    "Pricebook2Id",
    "Product2Id",
    "UnitPrice",
    "IsActive",
    "UseStandardPrice",
    "SAP_Condition_Record__c",
    "SyncHub_Id__c",
)
# The canonical fields the sync reads (mappings/price.yaml).
CANONICAL_FIELDS = (
    "condition_record",
    "condition_type",
    "material",
    "sales_org",
    "distribution_channel",
    "currency",
    "unit_price",
    "price_quantity",
    "valid_from",
    "valid_to",
    "release_status",
    "marked_for_deletion",
    "pricebook_id",
    "product_id",
    "is_active",
    "use_standard_price",
    "synchub_id",
)
_CONDITION_TYPE = re.compile(r"\bConditionType\s+eq\s+'([^']*)'", re.IGNORECASE)


@dataclass(frozen=True)
class PriceSource:
    """The condition records of one sales organisation, distribution channel and currency."""

    sales_org: str
    distribution_channel: str
    currency: str

    def __str__(self) -> str:
        return f"{self.sales_org}/{self.distribution_channel}/{self.currency}"


@dataclass(frozen=True)
class PricebookConfig:
    """A pricebook SyncHub fills; ``name`` None is the standard pricebook (its name is Salesforce's)."""

    key: str  # Pricebook2.SyncHub_Id__c, and the first part of its entries' SyncHub ids
    name: str | None
    sources: tuple[PriceSource, ...]

    @property
    def standard(self) -> bool:
        return self.name is None


@dataclass(frozen=True)
class PricingConfig:
    """The ``pricing:`` section of ``mappings/price.yaml``."""

    condition_type: str
    valid_on: dt.date | None  # None: the day of the run (UTC)
    standard: PricebookConfig
    pricebooks: tuple[PricebookConfig, ...]
    currency_field: str | None = None  # multi-currency orgs: PricebookEntry.CurrencyIsoCode

    @classmethod
    def from_dict(cls, section: Mapping[str, Any]) -> PricingConfig:
        """Settings from the schema-valid section; ValueError("pricing.<field>: why") if they cannot work."""
        text = str(section.get("valid_on", "today"))
        valid_on = None
        if text != "today":
            try:
                valid_on = dt.date.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"pricing.valid_on: {text!r} is not a date (YYYY-MM-DD) nor 'today'"
                ) from None
        currency_field = section.get("currency_field") or None
        raw_standard = section["standard"]
        items = raw_standard if isinstance(raw_standard, list) else [raw_standard]
        standard_sources = tuple(_price_source(item) for item in items)
        if currency_field is None and len(standard_sources) > 1:
            raise ValueError(
                "pricing.standard: a single-currency org holds one standard price per product; give one "
                "source, or set pricing.currency_field for a multi-currency org"
            )
        _unique_currencies(standard_sources, "pricing.standard")
        standard = PricebookConfig(STANDARD_KEY, None, standard_sources)
        groups: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        for i, item in enumerate(section.get("pricebooks") or []):
            groups.setdefault(item["name"], []).append((i, item))
        pricebooks = []
        owners: dict[str, str] = {STANDARD_KEY.lower(): "the standard pricebook"}
        for name, members in groups.items():
            first = members[0][0]
            if currency_field is None and len(members) > 1:
                raise ValueError(
                    f"pricing.pricebooks[{members[1][0]}].name: {name!r} is listed twice; a single-currency "
                    "org holds one price per product in a pricebook (set pricing.currency_field for a "
                    "multi-currency org)"
                )
            keys = {item["key"] for _, item in members if item.get("key")}
            if len(keys) > 1:
                raise ValueError(f"pricing.pricebooks[{first}].key: {name!r} is given different keys")
            key = keys.pop() if keys else _key_from_name(name, f"pricing.pricebooks[{first}].name")
            where = f"pricing.pricebooks[{first}]." + (
                "key" if any(i.get("key") for _, i in members) else "name"
            )
            if key.lower() in owners:
                raise ValueError(f"{where}: key {key!r} is already {owners[key.lower()]}'s; give another key")
            owners[key.lower()] = f"pricebook {name!r}"
            sources = tuple(_price_source(item) for _, item in members)
            _unique_currencies(sources, f"pricing.pricebooks[{first}]")
            if currency_field is not None:
                known = {s.currency for s in standard_sources}
                for i, item in members:
                    if item["currency"] not in known:
                        raise ValueError(
                            f"pricing.pricebooks[{i}].currency: Salesforce needs a standard price in "
                            f"{item['currency']} before a custom one; add a pricing.standard source in it"
                        )
            pricebooks.append(PricebookConfig(key, name, sources))
        return cls(
            condition_type=str(section.get("condition_type", "PR00")),
            valid_on=valid_on,
            standard=standard,
            pricebooks=tuple(pricebooks),
            currency_field=currency_field,
        )

    @property
    def all_pricebooks(self) -> tuple[PricebookConfig, ...]:
        """The standard pricebook first: its entries must exist before the others'."""
        return (self.standard, *self.pricebooks)

    @property
    def sap_filter(self) -> str:
        """The ``$filter`` that reads this condition type."""
        return f"ConditionType eq '{self.condition_type}'"

    def day(self, valid_on: dt.date | None = None) -> dt.date:
        """The day whose prices are active: the argument, else the configured date, else today (UTC)."""
        day = valid_on or self.valid_on or dt.datetime.now(dt.UTC).date()
        return day.date() if isinstance(day, dt.datetime) else day

    def mapping_problem(self, data: Mapping[str, Any]) -> tuple[list[str | int], str] | None:
        """Where (location, reason) the rest of the mapping cannot work with these settings, or None."""
        if data.get("entity") != ENTITY:
            return ["pricing"], f"only the {ENTITY} mapping takes a pricing section"
        sap = data["systems"]["sap"]
        if sap.get("filter"):
            found = _CONDITION_TYPE.findall(sap["filter"])
            if not found or any(t != self.condition_type for t in found):
                return (
                    ["systems", "sap", "filter"],
                    f"the filter reads condition type {' and '.join(found) or '(any)'} but "
                    f"pricing.condition_type is {self.condition_type}; leave the filter out (it is built "
                    "from pricing.condition_type) or make them agree",
                )
        sf = data["systems"]["salesforce"]
        if not sf.get("external_id"):
            return ["systems", "salesforce"], "pricebook entries are upserted on external_id (SyncHub_Id__c)"
        writable = {name.lower() for name in sf.get("writable", [])}
        needed = [*ENTRY_FIELDS, *([self.currency_field] if self.currency_field else [])]
        missing = [name for name in needed if name.lower() not in writable]
        if missing:
            return [
                "systems",
                "salesforce",
                "writable",
            ], f"the price sync writes {', '.join(missing)}; add them"
        fields = (data.get("canonical") or {}).get("fields") or {}
        absent = [name for name in CANONICAL_FIELDS if name not in fields]
        if absent:
            return ["canonical", "fields"], f"the price sync reads {', '.join(absent)}; add them"
        if self.currency_field:
            rule = (sf.get("fields") or {}).get("currency")
            source = rule.get("from") if isinstance(rule, dict) else rule
            if str(source or "").lower() != self.currency_field.lower():
                return (
                    ["pricing", "currency_field"],
                    f"map the entries' currency: systems.salesforce.fields.currency: {self.currency_field}",
                )
        return None


def _price_source(item: Mapping[str, Any]) -> PriceSource:
    return PriceSource(str(item["sales_org"]), str(item["distribution_channel"]), str(item["currency"]))


def _unique_currencies(sources: Sequence[PriceSource], where: str) -> None:
    seen: set[str] = set()
    for i, source in enumerate(sources):
        if source.currency in seen:
            at = f"{where}[{i}]" if where == "pricing.standard" else where
            raise ValueError(f"{at}.currency: {source.currency} is listed twice for one pricebook")
        seen.add(source.currency)


def _key_from_name(name: str, where: str) -> str:
    key = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").upper()[:24].rstrip("-")
    if not key:
        raise ValueError(f"{where}: {name!r} gives no key; set the pricebook's key")
    return key

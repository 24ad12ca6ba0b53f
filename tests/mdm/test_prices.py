"""The price sync: SAP sales price conditions -> Salesforce pricebook entries.

The first part specifies, on plain data, which condition is the price of a day and how the pricing
section is read. The second runs the whole chain against seeded sandboxes over HTTPS: the product sync
(extract, quality, match, merge, publish) links SAP products to Product2 records, then the price run
(``extract('price', 'sap', full=True)``, ``extract('price', 'salesforce')``, ``sync_prices``) fills the
pricebooks. The tests check what the org holds afterwards and play other users by changing sandbox data
directly (``sandboxes.sap.update``, ``sandboxes.org.delete``).

Long (about 700 lines) because the plain-data rules and the sandbox chain are two halves of one
specification, the second sharing one module-scoped seed folder.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections import defaultdict
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mdm import pipeline
from mdm.config import DEFAULT_DIR, MappingError, load_mapping
from mdm.prices import (
    OPEN_END,
    Condition,
    PriceKey,
    PricingConfig,
    condition_from_values,
    entry_id,
    sync_prices,
    valid_prices,
)
from mdm.publish import publish
from mdm.store.models import Xref
from sandbox.datadir import write_data_dir
from sandbox.seed import PRICING_SERVICE, SeedOptions, generate
from tests.conftest import sandbox_connectors as connectors

DAY = dt.date(2026, 12, 2)


def condition(
    record: str, start: dt.date, end: dt.date = OPEN_END, rate: str = "10", **key: str
) -> Condition:
    where = {
        "material": "TG-1001",
        "sales_org": "1010",
        "distribution_channel": "10",
        "currency": "EUR",
    } | key
    return Condition(record=record, rate=Decimal(rate), valid_from=start, valid_to=end, **where)


def price_on(day: dt.date, *conditions: Condition) -> str | None:
    """The record number of the price valid on ``day`` for TG-1001 in 1010/10/EUR."""
    found = valid_prices(conditions, day).get(PriceKey("TG-1001", "1010", "10", "EUR"))
    return found.record if found else None


# --- the price of a day --------------------------------------------------------------------------------


def test_the_window_that_holds_the_day_gives_the_price() -> None:
    old = condition("1", dt.date(2025, 1, 1), dt.date(2026, 5, 31), rate="9")
    new = condition("2", dt.date(2026, 6, 1), rate="10")
    assert price_on(dt.date(2026, 5, 31), old, new) == "1"
    assert price_on(dt.date(2026, 6, 1), old, new) == "2"


def test_both_ends_of_a_window_are_valid_days() -> None:
    window = condition("1", dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert [price_on(day, window) for day in (dt.date(2026, 1, 1), dt.date(2026, 1, 31))] == ["1", "1"]
    assert price_on(dt.date(2026, 2, 1), window) is None


def test_an_open_end_never_expires() -> None:
    assert price_on(OPEN_END, condition("1", dt.date(2020, 1, 1), dt.date(9999, 12, 31))) == "1"


def test_a_future_price_is_not_valid_before_its_first_day() -> None:
    current = condition("1", dt.date(2026, 1, 1), dt.date(2027, 1, 14))
    future = condition("2", dt.date(2027, 1, 15), rate="11")
    assert price_on(DAY, current, future) == "1"
    assert price_on(dt.date(2027, 1, 15), current, future) == "2"
    assert price_on(DAY, future) is None


def test_where_windows_overlap_the_one_that_started_last_wins() -> None:
    long = condition("7", dt.date(2026, 1, 1))  # open end
    promotion = condition("3", dt.date(2026, 11, 15), dt.date(2026, 12, 31), rate="8")
    assert price_on(DAY, long, promotion) == price_on(DAY, promotion, long) == "3"
    assert price_on(dt.date(2027, 1, 1), long, promotion) == "7"


def test_the_same_start_goes_to_the_newer_condition_record() -> None:
    older, newer = condition("0000000009", dt.date(2026, 1, 1)), condition("0000000010", dt.date(2026, 1, 1))
    assert price_on(DAY, newer, older) == price_on(DAY, older, newer) == "0000000010"


def test_each_material_sales_area_and_currency_has_its_own_price() -> None:
    conditions = [
        condition("1", dt.date(2026, 1, 1)),
        condition("2", dt.date(2026, 1, 1), currency="USD"),
        condition("3", dt.date(2026, 1, 1), sales_org="1710"),
        condition("4", dt.date(2026, 1, 1), distribution_channel="20"),
        condition("5", dt.date(2026, 1, 1), material="TG-1002"),
    ]
    assert sorted(c.record for c in valid_prices(conditions, DAY).values()) == ["1", "2", "3", "4", "5"]


def test_a_rate_per_100_units_becomes_a_unit_price_with_two_decimals() -> None:
    per_hundred = Condition(
        "1", "TG-1001", "1010", "10", "EUR", Decimal("1234.5"), DAY, per_quantity=Decimal(100)
    )
    assert per_hundred.unit_price == Decimal("12.35")


STAGED = {
    "condition_record": "0000000042",
    "condition_type": "PR00",
    "material": "TG-1001",
    "sales_org": "1010",
    "distribution_channel": "10",
    "currency": "EUR",
    "unit_price": "1E+2",  # a canonical decimal, as the store keeps it
    "price_quantity": "1",
    "valid_from": "2026-01-01",
    "valid_to": "9999-12-31",
    "release_status": None,
    "marked_for_deletion": False,
}


def test_a_staged_condition_record_reads_as_a_condition() -> None:
    found, reason = condition_from_values("0000000042", STAGED, "PR00")
    assert reason is None and found is not None
    assert (found.rate, found.valid_from, found.valid_to) == (Decimal(100), dt.date(2026, 1, 1), OPEN_END)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"marked_for_deletion": True}, "marked_for_deletion"),
        ({"release_status": "B"}, "not_released"),
        ({"condition_type": "K007"}, "other_condition_type"),
        ({"valid_from": None}, "incomplete"),
    ],
    ids=["deletion flag", "released for simulation only", "another condition type", "no start"],
)
def test_a_condition_that_pricing_does_not_use_is_skipped_with_its_reason(change, reason) -> None:
    assert condition_from_values("0000000042", STAGED | change, "PR00") == (None, reason)


# --- the pricing section -------------------------------------------------------------------------------

PRICE_YAML = (DEFAULT_DIR / "price.yaml").read_text()
MULTI_CURRENCY = {
    "currency_field": "CurrencyIsoCode",
    "standard": [
        {"sales_org": "1010", "distribution_channel": "10", "currency": "EUR"},
        {"sales_org": "1210", "distribution_channel": "10", "currency": "CHF"},
    ],
    "pricebooks": [
        {"name": "Wholesale", "sales_org": "1010", "distribution_channel": "20", "currency": "EUR"},
        {"name": "Wholesale", "sales_org": "1210", "distribution_channel": "20", "currency": "CHF"},
    ],
}


def test_the_shipped_pricing_fills_the_standard_and_one_pricebook_per_other_currency() -> None:
    mapping = load_mapping(DEFAULT_DIR / "price.yaml")
    config = mapping.pricing
    assert config is not None
    assert (config.condition_type, config.valid_on, config.currency_field) == ("PR00", None, None)
    assert [(str(s), b.standard) for b in config.all_pricebooks for s in b.sources] == [
        ("1010/10/EUR", True), ("1210/10/CHF", False), ("1510/10/GBP", False), ("1710/10/USD", False),
    ]  # fmt: skip
    assert mapping.source.sap.filter == "ConditionType eq 'PR00'"  # built from the condition type


def test_the_sap_filter_follows_the_condition_type(tmp_path: Path) -> None:
    path = tmp_path / "price.yaml"
    path.write_text(PRICE_YAML.replace("condition_type: PR00", "condition_type: ZPR0"))
    assert load_mapping(path).source.sap.filter == "ConditionType eq 'ZPR0'"


def test_valid_on_takes_a_date(tmp_path: Path) -> None:
    path = tmp_path / "price.yaml"
    path.write_text(PRICE_YAML.replace("valid_on: today", "valid_on: 2026-06-30"))
    config = load_mapping(path).pricing
    assert config is not None and config.day() == dt.date(2026, 6, 30)
    assert config.day(DAY) == DAY  # the step's argument wins


def test_valid_on_today_is_the_date_of_the_run_in_utc() -> None:
    config = load_mapping(DEFAULT_DIR / "price.yaml").pricing
    assert config is not None
    assert config.day() in {dt.datetime.now(dt.UTC).date() - dt.timedelta(days=d) for d in (0, 1)}


def test_a_multi_currency_org_fills_one_pricebook_in_several_currencies() -> None:
    config = PricingConfig.from_dict(MULTI_CURRENCY)
    (wholesale,) = config.pricebooks
    assert (wholesale.key, [s.currency for s in wholesale.sources]) == ("WHOLESALE", ["EUR", "CHF"])
    assert [s.currency for s in config.standard.sources] == ["EUR", "CHF"]


def test_a_custom_currency_needs_a_standard_source_in_a_multi_currency_org() -> None:
    books = [{"name": "Wholesale", "sales_org": "1510", "distribution_channel": "20", "currency": "GBP"}]
    with pytest.raises(ValueError, match=r"^pricing\.pricebooks\[0\]\.currency: .*standard price in GBP"):
        PricingConfig.from_dict(MULTI_CURRENCY | {"pricebooks": books})


def test_a_single_currency_org_takes_one_standard_source() -> None:
    with pytest.raises(ValueError, match=r"^pricing\.standard: a single-currency org"):
        PricingConfig.from_dict({k: v for k, v in MULTI_CURRENCY.items() if k != "currency_field"})


def test_the_currency_field_must_be_read_into_the_canonical_currency(tmp_path: Path) -> None:
    text = PRICE_YAML.replace("  valid_on: today\n", "  valid_on: today\n  currency_field: CurrencyIsoCode\n")
    text = re.sub(r"\n  pricebooks:\n(    - .*\n)+", "\n", text)  # the standard pricebook only
    text = text.replace("SyncHub_Id__c]\n    fields:", "SyncHub_Id__c, CurrencyIsoCode]\n    fields:", 1)
    path = tmp_path / "price.yaml"
    path.write_text(text)
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    assert error.value.field == "pricing.currency_field"
    assert "systems.salesforce.fields.currency: CurrencyIsoCode" in error.value.reason


def test_entry_ids_fit_salesforce_external_id_fields() -> None:
    book = {"name": "A pricebook with a long name indeed", "sales_org": "1010", "distribution_channel": "20"}
    config = PricingConfig.from_dict(MULTI_CURRENCY | {"pricebooks": [book | {"currency": "EUR"}]})
    (book,) = config.pricebooks
    assert entry_id(book, "01t000000000001AAA", "EUR") == f"{book.key}:01t000000000001AAA:EUR"
    assert len(entry_id(book, "01t000000000001AAA", "EUR")) <= 64  # SyncHub_Id__c holds 64
    assert entry_id(config.standard, "01t000000000001AAA", "EUR") == "STD:01t000000000001AAA:EUR"


# --- the whole chain on seeded sandboxes ---------------------------------------------------------------

SEED = SeedOptions(seed=42, customers=10, products=40, orders=0)
TODAY = dt.datetime.now(dt.UTC).date()
ENDS_SOON = 5  # days left on the prices the seed fixture shortens
PRICING = (PRICING_SERVICE, "A_SlsPrcgConditionRecord")
VALIDITY = (PRICING_SERVICE, "A_SlsPrcgCndnRecdValidity")
SalesArea = tuple[str, str, str]  # sales org, distribution channel, currency


@cache
def price_mapping() -> Any:
    return pipeline.load_entity_mapping("price")


@cache
def product_mapping() -> Any:
    return pipeline.load_entity_mapping("product")


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The seed as a data folder; the prices of one material (returned) end ENDS_SOON days from today."""
    data, truth = generate(SEED)
    in_crm = {p["sap"] for p in truth["products"] if p["sap"] and p["salesforce"]}
    sets = data.sap[PRICING_SERVICE]
    windows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sets["A_SlsPrcgCndnRecdValidity"]:
        windows[row["Material"]].append(row)

    def one_window_per_sales_org(material: str) -> bool:  # no expired or future prices: one open window each
        orgs = [r["SalesOrganization"] for r in windows[material]]
        return len(orgs) > 1 and len(orgs) == len(set(orgs))

    material = next(m for m in sorted(in_crm) if one_window_per_sales_org(m))
    ending = {r["ConditionRecord"] for r in windows[material]}
    end = f"/Date({calendar.timegm((TODAY + dt.timedelta(days=ENDS_SOON)).timetuple()) * 1000})/"
    for name in ("A_SlsPrcgConditionRecord", "A_SlsPrcgCndnRecdValidity"):
        for row in sets[name]:
            if row["ConditionRecord"] in ending:
                row["ConditionValidityEndDate"] = end
    directory = tmp_path_factory.mktemp("price-seed")
    write_data_dir(directory, data)
    return directory, material


def sync_products(store) -> None:
    """The product sync: SAP products linked to (or created as) Product2 records, through the xref."""
    mapping, clients = product_mapping(), connectors()
    for system in ("salesforce", "sap"):
        pipeline.extract("product", system, sessions=store, connector=clients[system], mapping=mapping)
    pipeline.quality("product", sessions=store, mapping=mapping)
    pipeline.match("product", sessions=store, mapping=mapping)
    pipeline.merge("product", sessions=store, mapping=mapping)
    publish("product", "salesforce", sessions=store, connector=clients["salesforce"], mapping=mapping)


def run_prices(store, valid_on: dt.date = TODAY) -> dict[str, Any]:
    """One price run: the SAP snapshot (full), the CRM's entries, then the sync (for the tests' today, so a
    run across midnight UTC keeps its day)."""
    mapping, clients = price_mapping(), connectors()
    pipeline.extract("price", "sap", full=True, sessions=store, connector=clients["sap"], mapping=mapping)
    pipeline.extract("price", "salesforce", sessions=store, connector=clients["salesforce"], mapping=mapping)
    return sync_prices(sessions=store, connector=clients["salesforce"], mapping=mapping, valid_on=valid_on)


def writes(stats: dict[str, Any]) -> dict[str, int]:
    return {k: stats[k] for k in ("created", "updated", "deactivated", "failed", "pricebooks_created")}


def sap_prices(sandboxes, day: dt.date) -> dict[tuple[str, SalesArea], Decimal]:
    """What SAP says: the PR00 rate valid on ``day`` per (material, sales area), read from its tables."""
    records = {r["ConditionRecord"]: r for r in sandboxes.sap.records(sandboxes.sap.entity_set(*PRICING))}
    best: dict[tuple[str, SalesArea], tuple[dt.datetime, Decimal]] = {}
    for validity in sandboxes.sap.records(sandboxes.sap.entity_set(*VALIDITY)):
        record = records[validity["ConditionRecord"]]
        start, end = validity["ConditionValidityStartDate"], validity["ConditionValidityEndDate"]
        if (
            record["ConditionType"] != "PR00"
            or record["ConditionIsDeleted"]
            or not start.date() <= day <= end.date()
        ):
            continue
        area = (
            validity["SalesOrganization"],
            validity["DistributionChannel"],
            record["ConditionRateValueUnit"],
        )
        key = (validity["Material"], area)
        if key not in best or start > best[key][0]:
            best[key] = (start, record["ConditionRateValue"] / record["ConditionQuantity"])
    return {key: rate.quantize(Decimal("0.01")) for key, (_, rate) in best.items()}


def pricebooks(sandboxes) -> dict[SalesArea, str]:
    """Pricebook2 Id per configured sales area in the org (the standard one; the others by name)."""
    books = sandboxes.org.query("SELECT Id, Name, IsStandard FROM Pricebook2", include_deleted=False)
    by_name = {b["Name"]: b["Id"] for b in books}
    config = price_mapping().pricing
    out = {(s.sales_org, s.distribution_channel, s.currency): sandboxes.org.standard_pricebook_id
           for s in config.standard.sources}  # fmt: skip
    for book in config.pricebooks:
        for s in book.sources:
            if book.name in by_name:
                out[(s.sales_org, s.distribution_channel, s.currency)] = by_name[book.name]
    return out


def crm_products(store, sandboxes) -> dict[str, str]:
    """SAP product -> the Product2 that carries its golden id in the org (the one copy kept active)."""
    with store() as session:
        golden = dict(
            session.execute(
                select(Xref.source_key, Xref.golden_id).where(Xref.system == "sap", Xref.entity == "product")
            ).all()
        )
    carrying = {
        p["SyncHub_Id__c"]: p["Id"]
        for p in sandboxes.org.query("SELECT Id, SyncHub_Id__c FROM Product2", include_deleted=False)
        if p["SyncHub_Id__c"]
    }
    return {material: carrying[g] for material, g in golden.items() if g in carrying}


def entries(sandboxes) -> dict[tuple[str, str], dict[str, Any]]:
    """The org's live pricebook entries by (Pricebook2Id, Product2Id)."""
    rows = sandboxes.org.query(
        "SELECT Id, Pricebook2Id, Product2Id, UnitPrice, IsActive, UseStandardPrice, "
        "SAP_Condition_Record__c, SyncHub_Id__c, SystemModstamp FROM PricebookEntry",
        include_deleted=False,
    )
    return {(r["Pricebook2Id"], r["Product2Id"]): r for r in rows}


def wanted_prices(store, sandboxes, day: dt.date) -> dict[tuple[str, str], Decimal]:
    """(Pricebook2Id, Product2Id) -> the price SAP says it should hold on ``day``."""
    books, products = pricebooks(sandboxes), crm_products(store, sandboxes)
    return {
        (books[area], products[material]): rate
        for (material, area), rate in sap_prices(sandboxes, day).items()
        if area in books and material in products
    }


def entry_of(store, sandboxes, material: str, currency: str = "EUR") -> dict[str, Any]:
    area = next(a for a in pricebooks(sandboxes) if a[2] == currency)
    return entries(sandboxes)[(pricebooks(sandboxes)[area], crm_products(store, sandboxes)[material])]


def set_condition(sandboxes, record: str, **values: Any) -> None:
    """Another user changes a condition record in SAP."""
    sandboxes.sap.update(
        sandboxes.sap.entity_set(*PRICING), {"ConditionRecord": record}, values, user="PRICING"
    )


def condition_of(sandboxes, material: str, sales_org: str = "1010", day: dt.date = TODAY) -> dict[str, Any]:
    """The validity row of the material's condition valid on ``day`` in the sales org."""
    return next(
        v
        for v in sandboxes.sap.records(sandboxes.sap.entity_set(*VALIDITY))
        if v["Material"] == material
        and v["SalesOrganization"] == sales_org
        and v["ConditionValidityStartDate"].date() <= day <= v["ConditionValidityEndDate"].date()
    )


def test_after_one_run_every_price_valid_today_is_active_in_its_pricebook(store, sandbox_factory, seed_dir):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    stats = run_prices(store)

    wanted = wanted_prices(store, sandboxes, TODAY)
    books = pricebooks(sandboxes)
    assert set(books) == {
        ("1010", "10", "EUR"),
        ("1210", "10", "CHF"),
        ("1510", "10", "GBP"),
        ("1710", "10", "USD"),
    }
    assert {currency for _, _, currency in books} == {"EUR", "CHF", "GBP", "USD"} and len(
        set(books.values())
    ) == 4
    held = entries(sandboxes)
    assert {key: Decimal(str(held[key]["UnitPrice"])) for key in wanted if key in held} == wanted
    assert all(held[key]["IsActive"] for key in wanted)
    # Nothing else of SAP's products is active in those pricebooks (CRM-only products keep theirs).
    sap_products = set(crm_products(store, sandboxes).values())
    active = {k for k, e in held.items() if e["IsActive"] and k[0] in books.values() and k[1] in sap_products}
    assert active == set(wanted)
    assert (stats["failed"], stats["errors"], stats["pricebooks_created"]) == (0, [], 3)
    assert stats["created"] > 0 and stats["updated"] > 0  # new currencies, and the seed's stale EUR prices


def test_a_second_run_writes_nothing_to_salesforce(store, sandbox_factory, seed_dir):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    run_prices(store)
    before = (entries(sandboxes), sandboxes.org.live_records("Pricebook2"))

    again = run_prices(store)

    assert writes(again) == dict.fromkeys(writes(again), 0)
    assert again["unchanged"] == again["wanted"] > 0
    assert (entries(sandboxes), sandboxes.org.live_records("Pricebook2")) == before


def test_a_price_changed_in_sap_reaches_salesforce_on_the_next_run(store, sandbox_factory, seed_dir):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    run_prices(store)
    material = sorted(crm_products(store, sandboxes))[0]
    set_condition(
        sandboxes, condition_of(sandboxes, material)["ConditionRecord"], ConditionRateValue="1234.5"
    )

    stats = run_prices(store)

    assert writes(stats) == {
        "created": 0,
        "updated": 1,
        "deactivated": 0,
        "failed": 0,
        "pricebooks_created": 0,
    }
    entry = entry_of(store, sandboxes, material)
    assert (entry["UnitPrice"], entry["IsActive"]) == (1234.5, True)


def test_a_price_past_its_last_day_deactivates_its_entries(store, sandbox_factory, seed_dir):
    directory, material = seed_dir
    sandboxes = sandbox_factory(data_dir=directory)
    sync_products(store)
    run_prices(store)
    assert entry_of(store, sandboxes, material)["IsActive"]
    later = TODAY + dt.timedelta(days=ENDS_SOON + 1)

    stats = run_prices(store, valid_on=later)

    product = crm_products(store, sandboxes)[material]
    theirs = [e for (_, p), e in entries(sandboxes).items() if p == product]
    assert len(theirs) > 1 and not any(e["IsActive"] for e in theirs)  # kept, not deleted
    assert stats["deactivated"] >= len(theirs)
    assert {
        k: Decimal(str(entries(sandboxes)[k]["UnitPrice"])) for k in wanted_prices(store, sandboxes, later)
    } == (wanted_prices(store, sandboxes, later))


def test_valid_on_decides_which_window_gives_the_active_price(store, sandbox_factory, seed_dir):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    rows = sandboxes.sap.records(sandboxes.sap.entity_set(*VALIDITY))
    products = crm_products(store, sandboxes)
    # A product whose EUR price changed: an earlier window ended before the current one began.
    old = next(
        v for v in rows
        if v["SalesOrganization"] == "1010" and v["ConditionValidityEndDate"].date() < TODAY
        and v["Material"] in products
    )  # fmt: skip
    back_then = old["ConditionValidityEndDate"].date()
    material = old["Material"]
    then_price, now_price = (
        sap_prices(sandboxes, day)[(material, ("1010", "10", "EUR"))] for day in (back_then, TODAY)
    )
    assert then_price != now_price

    run_prices(store, valid_on=back_then)
    assert Decimal(str(entry_of(store, sandboxes, material)["UnitPrice"])) == then_price
    assert entry_of(store, sandboxes, material)["SAP_Condition_Record__c"] == old["ConditionRecord"]
    run_prices(store)
    assert Decimal(str(entry_of(store, sandboxes, material)["UnitPrice"])) == now_price


def test_a_condition_flagged_for_deletion_in_sap_deactivates_its_entry(store, sandbox_factory, seed_dir):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    run_prices(store)
    material = sorted(crm_products(store, sandboxes))[1]
    set_condition(sandboxes, condition_of(sandboxes, material)["ConditionRecord"], ConditionIsDeleted=True)

    stats = run_prices(store)

    assert (stats["deactivated"], stats["conditions_skipped"]["marked_for_deletion"]) == (1, 1)
    assert entry_of(store, sandboxes, material)["IsActive"] is False


def test_a_condition_record_gone_from_sap_deactivates_its_entry(store, sandbox_factory, seed_dir, tmp_path):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    run_prices(store)
    material = sorted(crm_products(store, sandboxes))[2]
    gone = condition_of(sandboxes, material)["ConditionRecord"]
    # Archived in SAP: the record leaves the API without a trace. (The condition API deletes nothing.)
    sandboxes.dump(tmp_path)
    for name in ("A_SlsPrcgConditionRecord", "A_SlsPrcgCndnRecdValidity"):
        path = tmp_path / "sap" / PRICING_SERVICE / f"{name}.jsonl"
        kept = [line for line in path.read_text().splitlines() if json.loads(line)["ConditionRecord"] != gone]
        path.write_text("\n".join(kept) + "\n")
    sandboxes = sandbox_factory(data_dir=tmp_path)

    stats = run_prices(store)

    assert stats["deactivated"] == 1
    assert entry_of(store, sandboxes, material)["IsActive"] is False


def test_a_custom_price_without_a_standard_price_gets_an_inactive_standard_entry_first(
    store, sandbox_factory, seed_dir
):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    products = crm_products(store, sandboxes)
    material = next(
        m for (m, area) in sorted(sap_prices(sandboxes, TODAY)) if area[2] == "CHF" and m in products
    )
    # Its EUR price is withdrawn in SAP, and someone deleted the product's standard entry in the CRM.
    set_condition(sandboxes, condition_of(sandboxes, material)["ConditionRecord"], ConditionIsDeleted=True)
    standard = entries(sandboxes).get((sandboxes.org.standard_pricebook_id, products[material]))
    assert standard is not None
    sandboxes.org.delete("PricebookEntry", standard["Id"])

    stats = run_prices(store)

    standard = entry_of(store, sandboxes, material, "EUR")
    chf = entry_of(store, sandboxes, material, "CHF")
    assert (standard["IsActive"], standard["UnitPrice"], chf["IsActive"]) == (False, 0.0, True)
    assert stats["standard_placeholders"] == 1 and stats["failed"] == 0


def test_an_entry_salesforce_refuses_does_not_stop_the_others(store, sandbox_factory, seed_dir):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    products = crm_products(store, sandboxes)
    # Someone deletes a product after the product sync: its entries cannot be created.
    material = next(
        m for (m, area) in sorted(sap_prices(sandboxes, TODAY)) if area[2] == "USD" and m in products
    )
    sandboxes.org.delete("Product2", products[material])

    stats = run_prices(store)

    assert stats["failed"] >= 1 and stats["created"] > 0
    assert {e["key"].split(":")[1] for e in stats["errors"]} == {products[material]}
    assert all(e["code"] for e in stats["errors"])
    del products[material]
    wanted = wanted_prices(store, sandboxes, TODAY)
    assert {k: Decimal(str(entries(sandboxes)[k]["UnitPrice"])) for k in wanted} == wanted


def test_a_material_without_a_crm_product_is_reported_and_priced_once_it_has_one(
    store, sandbox_factory, seed_dir
):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)  # products blocked in SAP are not created in the CRM

    stats = run_prices(store)

    books = pricebooks(sandboxes)
    missing = sorted(
        {m for m, area in sap_prices(sandboxes, TODAY) if area in books} - set(crm_products(store, sandboxes))
    )
    assert missing and (stats["missing_products"], stats["missing_product_examples"]) == (
        len(missing),
        missing,
    )
    assert stats["failed"] == 0  # reported, not an error
    # SAP releases the product: the product sync creates it in the CRM, and the next price run prices it.
    material = missing[0]
    products, sales = (
        sandboxes.sap.entity_set("API_PRODUCT_SRV", name) for name in ("A_Product", "A_ProductSales")
    )
    sandboxes.sap.update(
        products, {"Product": material}, {"IsMarkedForDeletion": False, "CrossPlantStatus": ""}, user="MDM"
    )
    sandboxes.sap.update(sales, {"Product": material}, {"SalesStatus": ""}, user="MDM")
    sync_products(store)

    again = run_prices(store)

    assert again["missing_products"] == len(missing) - 1
    product = crm_products(store, sandboxes)[material]
    theirs = {k: rate for k, rate in wanted_prices(store, sandboxes, TODAY).items() if k[1] == product}
    held = entries(sandboxes)
    assert theirs and {k: Decimal(str(held[k]["UnitPrice"])) for k in theirs} == theirs
    assert again["created"] == len(theirs) and all(held[k]["IsActive"] for k in theirs)


def test_a_pricebook_deleted_in_salesforce_is_created_again_and_refilled(store, sandbox_factory, seed_dir):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    run_prices(store)
    chf = pricebooks(sandboxes)[("1210", "10", "CHF")]
    sandboxes.org.delete("Pricebook2", chf)  # its entries go to the recycle bin with it

    stats = run_prices(store)

    assert stats["pricebooks_created"] == 1 and stats["failed"] == 0
    assert pricebooks(sandboxes)[("1210", "10", "CHF")] != chf
    wanted = wanted_prices(store, sandboxes, TODAY)
    held = entries(sandboxes)
    assert {k: Decimal(str(held[k]["UnitPrice"])) for k in wanted if k in held} == wanted


def test_the_sync_rerun_before_the_next_extract_recovers_its_creates_without_duplicates(
    store, sandbox_factory, seed_dir
):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    first = run_prices(store)
    count = len(sandboxes.org.live_records("PricebookEntry"))

    # Airflow retries the sync task alone: the store has not seen the entries it just created.
    again = sync_prices(
        sessions=store, connector=connectors()["salesforce"], mapping=price_mapping(), valid_on=TODAY
    )

    assert (again["recovered"], again["created"], again["failed"]) == (first["created"], 0, 0)
    assert len(sandboxes.org.live_records("PricebookEntry")) == count
    assert writes(run_prices(store)) == dict.fromkeys(writes(first), 0)


def test_a_condition_the_quality_gate_quarantines_leaves_its_entries_as_they_are(
    store, sandbox_factory, seed_dir
):
    sandboxes = sandbox_factory(data_dir=seed_dir[0])
    sync_products(store)
    run_prices(store)
    material = sorted(crm_products(store, sandboxes))[0]
    before = entry_of(store, sandboxes, material)
    set_condition(sandboxes, condition_of(sandboxes, material)["ConditionRecord"], ConditionRateValue="-5")
    mapping, clients = price_mapping(), connectors()
    pipeline.extract("price", "sap", full=True, sessions=store, connector=clients["sap"], mapping=mapping)
    pipeline.extract("price", "salesforce", sessions=store, connector=clients["salesforce"], mapping=mapping)

    gate = pipeline.quality("price", sessions=store, mapping=mapping)
    stats = sync_prices(sessions=store, connector=clients["salesforce"], mapping=mapping, valid_on=TODAY)

    assert gate["newly_quarantined"] == 1
    assert stats["conditions_skipped"].get("quarantined") == 1
    after = entry_of(store, sandboxes, material)
    assert (after["UnitPrice"], after["IsActive"]) == (before["UnitPrice"], before["IsActive"])
    assert writes(stats)["updated"] == writes(stats)["deactivated"] == 0

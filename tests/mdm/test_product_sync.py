"""Products: SAP is the master, Salesforce Product2 the copy; the whole chain on seeded sandboxes.

Each test seeds fresh sandboxes, runs extract (both) -> quality -> match -> merge -> publish (SAP, then
Salesforce) for the product entity on the store (SQLite, or PostgreSQL in CI's second pass) and looks at
what the systems hold afterwards.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

from sqlalchemy import select

from mdm import pipeline
from mdm.publish import publish
from mdm.store.models import Xref
from sandbox.seed import SeedOptions

ENTITY = "product"
SEED = SeedOptions(seed=42, customers=10, products=60, orders=0)
FAMILY = {"P": "Hardware", "L": "Spare Parts", "S": "Services"}
PICKLIST_UNIT = {"PC": "Piece", "EA": "Each", "KG": "Kilogram", "M": "Meter", "L": "Liter", "H": "Hour"}


@cache
def mapping() -> Any:
    return pipeline.load_entity_mapping(ENTITY)


def cycle(store) -> dict[str, dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = {}
    for system in ("salesforce", "sap"):
        stats[f"extract_{system}"] = pipeline.extract(ENTITY, system, sessions=store, mapping=mapping())
    stats["quality"] = pipeline.quality(ENTITY, sessions=store, mapping=mapping())
    stats["match"] = pipeline.match(ENTITY, sessions=store, mapping=mapping())
    stats["merge"] = pipeline.merge(ENTITY, sessions=store, mapping=mapping())
    for system in ("sap", "salesforce"):
        stats[system] = publish(ENTITY, system, sessions=store, mapping=mapping())
    return stats


def sap_products(sandboxes) -> dict[str, dict[str, Any]]:
    products = sandboxes.sap.entity_set("API_PRODUCT_SRV", "A_Product")
    sales = sandboxes.sap.entity_set("API_PRODUCT_SRV", "A_ProductSales")
    descriptions = sandboxes.sap.entity_set("API_PRODUCT_SRV", "A_ProductDescription")
    out = {p["Product"]: dict(p) for p in sandboxes.sap.records(products)}
    for row in sandboxes.sap.records(sales):
        out[row["Product"]]["SalesStatus"] = row["SalesStatus"]
    for row in sandboxes.sap.records(descriptions):
        out[row["Product"]].setdefault("texts", {})[row["Language"]] = row["ProductDescription"]
    return out


def is_active_in_sap(product: dict[str, Any]) -> bool:
    return not (
        product["IsMarkedForDeletion"] or product.get("CrossPlantStatus") or product.get("SalesStatus")
    )


def crm_products(sandboxes) -> list[dict[str, Any]]:
    return sandboxes.org.query(
        "SELECT Id, Name, ProductCode, Description, Family, QuantityUnitOfMeasure, IsActive, SAP_Product__c, "
        "SyncHub_Id__c FROM Product2",
        include_deleted=False,
    )


def test_every_active_sap_product_is_active_exactly_once_in_salesforce_with_its_fields_mapped(
    sandbox_factory, store
):
    sandboxes = sandbox_factory(seed=SEED)
    cycle(store)

    sap = sap_products(sandboxes)
    active = {code: p for code, p in sap.items() if is_active_in_sap(p)}
    crm = crm_products(sandboxes)
    active_copies = Counter(p["ProductCode"] for p in crm if p["IsActive"])
    assert {code: active_copies[code] for code in active} == dict.fromkeys(active, 1)
    by_code = {p["ProductCode"]: p for p in crm if p["IsActive"] and p["ProductCode"] in active}
    for code, product in active.items():
        copy = by_code[code]
        text = product["texts"].get("EN") or product["texts"]["DE"]
        assert (copy["Name"], copy["Description"], copy["SAP_Product__c"]) == (text, text, code)
        assert copy["Family"] == FAMILY[product["ProductGroup"][0]]
        assert copy["QuantityUnitOfMeasure"] == PICKLIST_UNIT[product["BaseUnit"]]
        assert copy["SyncHub_Id__c"].startswith("SH-")


def test_products_inactive_in_sap_are_inactive_in_salesforce_and_never_created_there(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=SEED)
    stats = cycle(store)

    inactive = {code for code, p in sap_products(sandboxes).items() if not is_active_in_sap(p)}
    crm = crm_products(sandboxes)
    assert inactive, "the seed has no inactive SAP product"
    assert [p["ProductCode"] for p in crm if p["ProductCode"] in inactive and p["IsActive"]] == []
    never_in_crm = inactive - {p["ProductCode"] for p in crm}
    not_created = {
        record.split(":", 1)[1]
        for example in stats["salesforce"]["not_created_examples"]
        for record in example["records"]
    }
    assert never_in_crm <= not_created
    assert stats["salesforce"]["not_created"] == len(never_in_crm)


def test_copies_of_one_product_in_salesforce_are_deactivated_and_only_one_carries_the_golden_id(
    sandbox_factory, store
):
    sandboxes = sandbox_factory(seed=SEED)
    stats = cycle(store)

    with store() as session:
        members = Counter(
            golden
            for (golden,) in session.execute(
                select(Xref.golden_id).where(Xref.entity == ENTITY, Xref.system == "salesforce")
            )
        )
    duplicated = {golden for golden, n in members.items() if n > 1}
    assert duplicated, "the seed has no duplicated CRM product"
    crm = crm_products(sandboxes)
    with store() as session:
        rows = session.execute(
            select(Xref.golden_id, Xref.source_key).where(Xref.entity == ENTITY, Xref.system == "salesforce")
        ).all()
    by_id = {p["Id"]: p for p in crm}
    for golden in duplicated:
        copies = [by_id[key] for g, key in rows if g == golden]
        assert sum(1 for c in copies if c["IsActive"]) <= 1
        assert [c["SyncHub_Id__c"] for c in copies].count(golden) == 1
    assert stats["salesforce"]["duplicates_retired"] >= len(duplicated)


def test_products_only_in_salesforce_are_reported_and_not_created_in_sap(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=SEED)
    before = set(sap_products(sandboxes))

    stats = cycle(store)

    crm_only = {p["Id"] for p in crm_products(sandboxes) if p["ProductCode"].startswith("SVC-")}
    assert crm_only, "the seed has no CRM-only product"
    reported = {r.split(":", 1)[1] for e in stats["sap"]["not_created_examples"] for r in e["records"]}
    assert crm_only <= reported
    assert all("create: false" in e["reason"] for e in stats["sap"]["not_created_examples"])
    assert set(sap_products(sandboxes)) == before
    assert stats["sap"]["created"] == stats["sap"]["updated"] == stats["sap"]["api_calls"] == 0


def test_a_second_run_writes_nothing(sandbox_factory, store):
    sandbox_factory(seed=SEED)
    first = cycle(store)

    second = cycle(store)

    assert first["salesforce"]["created"] > 0 and first["salesforce"]["updated"] > 0
    assert {k: second["salesforce"][k] for k in ("created", "updated", "failed", "api_calls")} == {
        "created": 0,
        "updated": 0,
        "failed": 0,
        "api_calls": 0,
    }


def test_a_product_group_change_in_sap_reaches_the_salesforce_family_on_the_next_run(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=SEED)
    cycle(store)
    code = next(c for c, p in sorted(sap_products(sandboxes).items()) if is_active_in_sap(p))
    product_set = sandboxes.sap.entity_set("API_PRODUCT_SRV", "A_Product")
    group = sandboxes.sap.get(product_set, {"Product": code})["ProductGroup"]
    new_group = "S001" if not group.startswith("S") else "P001"
    sandboxes.sap.update(product_set, {"Product": code}, {"ProductGroup": new_group}, user="OTHER")

    stats = cycle(store)

    copy = next(p for p in crm_products(sandboxes) if p["ProductCode"] == code and p["IsActive"])
    assert copy["Family"] == FAMILY[new_group[0]]
    assert stats["salesforce"]["updated"] == 1

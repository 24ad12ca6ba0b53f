"""The seed generator: deterministic, schema-true, referentially sound, and messy where real data is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mdm.match.features import street_address
from sandbox.datadir import SandboxData, read_data_dir
from sandbox.salesforce.schema import KEY_PREFIX, load_schema, to_18
from sandbox.sap.model import load_model
from sandbox.seed import BP_SERVICE, REFERENCE_DATE, SeedOptions, expanded_partners, generate, write_seed

OPTIONS = SeedOptions(seed=7, customers=400, products=60, orders=120)
BP, PRODUCTS, ORDERS, PRICING = (
    "API_BUSINESS_PARTNER",
    "API_PRODUCT_SRV",
    "API_SALES_ORDER_SRV",
    "API_SLSPRICINGCONDITIONRECORD_SRV",
)

SF_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")
SF_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
SAP_DATE = re.compile(r"^/Date\(-?\d+\)/$")
SAP_TIMESTAMP = re.compile(r"^/Date\(-?\d+\+0000\)/$")
SAP_TIME = re.compile(r"^PT\d\dH\d\dM\d\dS$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_COUNTRIES = {"DE", "AT", "CH", "FR", "GB", "US", "NL", "IT", "ES"}


@pytest.fixture(scope="module")
def seeded() -> tuple[SandboxData, dict]:
    return generate(OPTIONS)


@pytest.fixture(scope="module")
def data(seeded: tuple[SandboxData, dict]) -> SandboxData:
    return seeded[0]


@pytest.fixture(scope="module")
def truth(seeded: tuple[SandboxData, dict]) -> dict:
    return seeded[1]


def _both_systems(data: SandboxData, truth: dict) -> list[tuple[dict, dict]]:
    """(Account, BusinessPartner) pairs of companies held once in each system."""
    accounts = {a["Id"]: a for a in data.salesforce["Account"]}
    partners = {p["BusinessPartner"]: p for p in data.sap[BP]["A_BusinessPartner"]}
    return [
        (accounts[c["salesforce"][0]], partners[c["sap"][0]])
        for c in truth["customers"]
        if c["salesforce"] and c["sap"]
    ]


# --- determinism and size ---------------------------------------------------------------------------


def test_the_same_options_write_byte_identical_files_in_any_process(tmp_path: Path) -> None:
    # Separate interpreters with different string-hash seeds: set ordering must not leak into the data.
    script = (
        "import sys; from pathlib import Path; from sandbox.seed import SeedOptions, write_seed; "
        "write_seed(Path(sys.argv[1]), SeedOptions(seed=11, customers=300, products=20, orders=30))"
    )
    root = Path(__file__).resolve().parents[2]
    for name, hash_seed in (("a", "1"), ("b", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], check=True, cwd=root, env=env)

    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert Path("truth.json") in files and len(files) > 20
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_a_different_seed_gives_different_data(data: SandboxData) -> None:
    other, _ = generate(SeedOptions(seed=8, customers=400, products=60, orders=120))

    assert other.salesforce["Account"] != data.salesforce["Account"]
    assert other.sap[BP]["A_BusinessPartner"] != data.sap[BP]["A_BusinessPartner"]


@pytest.mark.parametrize("customers", [0, 1, 7, 400])
def test_customers_n_gives_exactly_n_accounts_and_n_business_partners(customers: int) -> None:
    data, truth = generate(SeedOptions(seed=1, customers=customers, products=5, orders=5))

    assert len(data.salesforce.get("Account", [])) == customers
    assert len(data.sap[BP]["A_BusinessPartner"]) == customers
    assert len(data.sap[BP]["A_Customer"]) == customers
    assert sum(len(c["sap"]) for c in truth["customers"]) == customers


def test_products_and_orders_counts_are_respected(data: SandboxData) -> None:
    assert len(data.sap[PRODUCTS]["A_Product"]) == OPTIONS.products
    assert len(data.salesforce["Order"]) == OPTIONS.orders
    assert len(data.sap[ORDERS]["A_SalesOrder"]) == OPTIONS.orders


def test_write_seed_writes_the_data_dir_layout_and_truth(tmp_path: Path) -> None:
    options = SeedOptions(seed=5, customers=50, products=8, orders=10)

    out = write_seed(tmp_path, options)

    assert (out / "salesforce" / "Account.jsonl").is_file()
    assert (out / "sap" / BP / "A_BusinessPartnerAddress.jsonl").is_file()
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 5 and truth["options"]["customers"] == 50
    assert read_data_dir(out) == generate(options)[0]


def test_generation_of_ten_thousand_customers_is_fast() -> None:
    started = time.perf_counter()
    data, _ = generate(SeedOptions(seed=2, customers=10_000, products=100, orders=200))
    elapsed = time.perf_counter() - started

    print(f"\nseed: 10,000 accounts + 10,000 partners generated in {elapsed:.1f} s")
    assert len(data.salesforce["Account"]) == 10_000
    assert elapsed < 30


# --- schema-true values ------------------------------------------------------------------------------


def test_every_salesforce_value_fits_its_field(data: SandboxData) -> None:
    schema = load_schema()
    for obj, records in data.salesforce.items():
        odef = schema[obj]
        for record in records:
            for name, value in record.items():
                f = odef.fields.get(name)
                assert f is not None, f"{obj}.{name}"
                if value is None:
                    assert f.nillable, f"{obj}.{name}"
                elif f.type in ("string", "textarea", "phone", "url", "email", "picklist"):
                    assert isinstance(value, str) and len(value) <= f.length, (obj, name, value)
                    if f.picklist_values and (f.restricted_picklist or name == "Industry"):
                        assert value in f.picklist_values, (obj, name, value)
                elif f.type in ("id", "reference"):
                    assert isinstance(value, str) and len(value) == 18 and to_18(value[:15]) == value
                elif f.type == "boolean":
                    assert isinstance(value, bool), (obj, name)
                elif f.type in ("double", "currency", "int"):
                    assert isinstance(value, (int, float)) and not isinstance(value, bool), (obj, name)
                elif f.type == "datetime":
                    assert SF_DATETIME.match(value), (obj, name, value)
                elif f.type == "date":
                    assert SF_DATE.match(value), (obj, name, value)
                else:
                    pytest.fail(f"unexpected field type {f.type} for {obj}.{name}")


def test_salesforce_ids_are_unique_and_carry_the_object_key_prefix(data: SandboxData) -> None:
    for obj, records in data.salesforce.items():
        ids = [r["Id"] for r in records]
        assert len(set(ids)) == len(ids), obj
        assert all(i.startswith(KEY_PREFIX[obj]) for i in ids), obj


def test_every_sap_value_fits_its_property(data: SandboxData) -> None:
    model = load_model()
    for service, sets in data.sap.items():
        for set_name, records in sets.items():
            props = model[service][set_name].properties
            for record in records:
                for name, value in record.items():
                    p = props.get(name)
                    assert p is not None, f"{set_name}.{name}"
                    if value is None:
                        assert not p.is_key, f"{set_name}.{name}"
                    elif p.edm_type == "Edm.String":
                        assert isinstance(value, str), (set_name, name)
                        assert p.max_length is None or len(value) <= p.max_length, (set_name, name, value)
                    elif p.edm_type == "Edm.Decimal":
                        whole, _, frac = value.partition(".")
                        assert re.fullmatch(r"-?\d+", whole) and re.fullmatch(r"\d*", frac), (set_name, name)
                        assert len(frac) <= p.scale and len(whole.lstrip("-")) <= p.precision - p.scale
                    elif p.edm_type == "Edm.DateTime":
                        assert SAP_DATE.match(value), (set_name, name, value)
                    elif p.edm_type == "Edm.DateTimeOffset":
                        assert SAP_TIMESTAMP.match(value), (set_name, name, value)
                    elif p.edm_type == "Edm.Time":
                        assert SAP_TIME.match(value), (set_name, name, value)
                    elif p.edm_type == "Edm.Boolean":
                        assert isinstance(value, bool), (set_name, name)
                    elif p.edm_type == "Edm.Guid":
                        assert GUID.match(value), (set_name, name, value)
                    else:
                        pytest.fail(f"unexpected type {p.edm_type} for {set_name}.{name}")


def test_sap_records_carry_their_full_unique_keys(data: SandboxData) -> None:
    model = load_model()
    for service, sets in data.sap.items():
        for set_name, records in sets.items():
            keys = model[service][set_name].keys
            seen = [tuple(r[k] for k in keys) for r in records]
            assert all(all(isinstance(v, str) for v in key) for key in seen), set_name
            assert len(set(seen)) == len(seen), set_name


def test_stamps_lie_before_the_reference_date_and_changes_follow_creation(data: SandboxData) -> None:
    for obj, records in data.salesforce.items():
        for r in records:
            assert r["CreatedDate"] <= r["LastModifiedDate"] == r["SystemModstamp"] < REFERENCE_DATE, obj


# --- referential integrity ---------------------------------------------------------------------------


def test_orders_reference_seeded_accounts_pricebook_and_entries(data: SandboxData) -> None:
    sf = data.salesforce
    accounts = {a["Id"] for a in sf["Account"]}
    standard = [p["Id"] for p in sf["Pricebook2"] if p["IsStandard"]]
    entries = {e["Id"]: e for e in sf["PricebookEntry"]}
    orders = {o["Id"]: o for o in sf["Order"]}
    assert len(standard) == 1 and sf["Pricebook2"][0]["Name"] == "Standard Price Book"
    assert all(o["AccountId"] in accounts and o["Pricebook2Id"] == standard[0] for o in orders.values())
    for item in sf["OrderItem"]:
        assert item["OrderId"] in orders
        assert entries[item["PricebookEntryId"]]["Product2Id"] == item["Product2Id"]
    assert set(orders) == {i["OrderId"] for i in sf["OrderItem"]}  # no order without items
    products = {p["Id"] for p in sf["Product2"]}
    assert all(e["Product2Id"] in products and e["Pricebook2Id"] == standard[0] for e in entries.values())
    assert all(c["AccountId"] in accounts for c in sf["Contact"])


def test_activated_orders_sell_only_products_sap_has(data: SandboxData, truth: dict) -> None:
    crm_only = {p["salesforce"][0] for p in truth["products"] if p["sap"] is None}
    activated = {o["Id"] for o in data.salesforce["Order"] if o["StatusCode"] == "Activated"}
    sold = {i["Product2Id"] for i in data.salesforce["OrderItem"] if i["OrderId"] in activated}
    assert crm_only and activated
    assert sold.isdisjoint(crm_only)
    drafts = {i["Product2Id"] for i in data.salesforce["OrderItem"] if i["OrderId"] not in activated}
    assert drafts & crm_only  # draft orders still quote them


def test_order_totals_match_their_items(data: SandboxData) -> None:
    totals: Counter[str] = Counter()
    for item in data.salesforce["OrderItem"]:
        totals[item["OrderId"]] += item["Quantity"] * item["UnitPrice"]
    for order in data.salesforce["Order"]:
        assert order["TotalAmount"] == pytest.approx(totals[order["Id"]], abs=0.01)


def test_business_partner_children_reference_their_partner(data: SandboxData) -> None:
    bp = data.sap[BP]
    partners = {p["BusinessPartner"] for p in bp["A_BusinessPartner"]}
    addresses = {a["AddressID"] for a in bp["A_BusinessPartnerAddress"]}
    customers = {c["Customer"] for c in bp["A_Customer"]}
    assert {a["BusinessPartner"] for a in bp["A_BusinessPartnerAddress"]} == partners
    assert {r["AddressID"] for r in bp["A_AddressEmailAddress"] + bp["A_AddressPhoneNumber"]} <= addresses
    children = bp["A_BusinessPartnerRole"] + bp["A_BusinessPartnerTaxNumber"]
    assert {r["BusinessPartner"] for r in children} <= partners
    assert {p["Customer"] for p in bp["A_BusinessPartner"]} == customers
    assert {s["Customer"] for s in bp["A_CustomerSalesArea"]} == customers
    # The customers have their own numbers (CVI without "same numbers"): not one is a partner's.
    assert len(customers) == len(partners) and not customers & partners
    assert all(r["Person"] == "" and r["OrdinalNumber"] == "1" for r in bp["A_AddressPhoneNumber"])


def test_customer_numbers_follow_the_partners_creation_order_with_the_gaps_of_a_number_range(
    data: SandboxData, truth: dict
) -> None:
    partners = data.sap[BP]["A_BusinessPartner"]
    numbers = [int(p["Customer"]) for p in sorted(partners, key=lambda p: int(p["BusinessPartner"]))]
    steps = {b - a for a, b in zip(numbers, numbers[1:], strict=False)}
    assert numbers == sorted(numbers) and 1 in steps and max(steps) > 1
    customer_of = {p["BusinessPartner"]: p["Customer"] for p in partners}
    for company in truth["customers"]:
        assert company["sap_customers"] == [customer_of[bp] for bp in company["sap"]]


def test_same_customer_numbers_give_each_customer_its_partners_number() -> None:
    data, truth = generate(
        SeedOptions(seed=7, customers=60, products=5, orders=20, same_customer_numbers=True)
    )
    bp = data.sap[BP]
    assert all(p["Customer"] == p["BusinessPartner"] for p in bp["A_BusinessPartner"])
    assert {c["Customer"] for c in bp["A_Customer"]} == {
        p["BusinessPartner"] for p in bp["A_BusinessPartner"]
    }
    assert all(c["sap_customers"] == c["sap"] for c in truth["customers"])


def test_product_prices_and_sales_orders_reference_seeded_records(data: SandboxData) -> None:
    products = {p["Product"] for p in data.sap[PRODUCTS]["A_Product"]}
    customers = {c["Customer"] for c in data.sap[BP]["A_Customer"]}
    assert {d["Product"] for d in data.sap[PRODUCTS]["A_ProductDescription"]} == products
    records = {r["ConditionRecord"]: r for r in data.sap[PRICING]["A_SlsPrcgConditionRecord"]}
    for validity in data.sap[PRICING]["A_SlsPrcgCndnRecdValidity"]:
        record = records[validity["ConditionRecord"]]
        assert validity["Material"] in products
        assert validity["ConditionValidityEndDate"] == record["ConditionValidityEndDate"]
    orders = {o["SalesOrder"] for o in data.sap[ORDERS]["A_SalesOrder"]}
    assert all(o["SoldToParty"] in customers for o in data.sap[ORDERS]["A_SalesOrder"])
    items = data.sap[ORDERS]["A_SalesOrderItem"]
    assert all(i["Material"] in products and i["SalesOrder"] in orders for i in items)


def test_transferred_crm_orders_point_at_a_sap_order_of_the_same_company(
    data: SandboxData, truth: dict
) -> None:
    company_of_account = {i: c["entity_id"] for c in truth["customers"] for i in c["salesforce"]}
    company_of_customer = {n: c["entity_id"] for c in truth["customers"] for n in c["sap_customers"]}
    sap_orders = {o["SalesOrder"]: o for o in data.sap[ORDERS]["A_SalesOrder"]}
    transferred = [o for o in data.salesforce["Order"] if "SAP_Order_Number__c" in o]

    assert transferred and all(o["StatusCode"] == "Activated" for o in transferred)
    for order in transferred:
        sap_order = sap_orders[order["SAP_Order_Number__c"]]
        assert company_of_customer[sap_order["SoldToParty"]] == company_of_account[order["AccountId"]]


# --- truth --------------------------------------------------------------------------------------------


def test_truth_lists_every_account_and_partner_exactly_once(data: SandboxData, truth: dict) -> None:
    sf_ids = Counter(i for c in truth["customers"] for i in c["salesforce"])
    sap_ids = Counter(b for c in truth["customers"] for b in c["sap"])

    assert sf_ids == Counter(a["Id"] for a in data.salesforce["Account"])
    assert sap_ids == Counter(p["BusinessPartner"] for p in data.sap[BP]["A_BusinessPartner"])
    assert all(c["salesforce"] or c["sap"] for c in truth["customers"])


def test_truth_lists_every_product_and_order_exactly_once(data: SandboxData, truth: dict) -> None:
    assert Counter(p["sap"] for p in truth["products"] if p["sap"]) == Counter(
        p["Product"] for p in data.sap[PRODUCTS]["A_Product"]
    )
    assert Counter(i for p in truth["products"] for i in p["salesforce"]) == Counter(
        p["Id"] for p in data.salesforce["Product2"]
    )
    assert Counter(o["salesforce"] for o in truth["orders"] if o["salesforce"]) == Counter(
        o["Id"] for o in data.salesforce["Order"]
    )
    assert Counter(o["sap"] for o in truth["orders"] if o["sap"]) == Counter(
        o["SalesOrder"] for o in data.sap[ORDERS]["A_SalesOrder"]
    )


def test_crm_product_copies_carry_the_sap_product_as_product_code(data: SandboxData, truth: dict) -> None:
    product2 = {p["Id"]: p for p in data.salesforce["Product2"]}
    pairs = [
        (p["sap"], product2[i]["ProductCode"]) for p in truth["products"] if p["sap"] for i in p["salesforce"]
    ]

    exact = sum(code == sap for sap, code in pairs)
    assert pairs and exact >= 0.9 * len(pairs)
    assert any(len(p["salesforce"]) == 0 for p in truth["products"] if p["sap"])  # not every product copied


# --- messiness -----------------------------------------------------------------------------------------


def test_about_two_thirds_of_companies_are_in_both_systems(truth: dict) -> None:
    both = sum(1 for c in truth["customers"] if c["salesforce"] and c["sap"])

    assert 0.55 <= both / len(truth["customers"]) <= 0.75
    assert any(not c["sap"] for c in truth["customers"])
    assert any(not c["salesforce"] for c in truth["customers"])


def test_some_companies_are_duplicated_within_each_system(truth: dict) -> None:
    assert any(len(c["salesforce"]) > 1 for c in truth["customers"])
    assert any(len(c["sap"]) > 1 for c in truth["customers"])


def test_names_of_the_same_company_often_differ_between_systems(data: SandboxData, truth: dict) -> None:
    pairs = _both_systems(data, truth)
    differ = [a["Name"] for a, p in pairs if a["Name"] != p["BusinessPartnerFullName"]]

    assert 0.25 * len(pairs) < len(differ) < len(pairs)
    legal_forms = ("Gesellschaft mit beschränkter Haftung", "Incorporated", "Limited", "Intl", " BV")
    assert any(any(form in a["Name"] for form in legal_forms) for a, _ in pairs)


def test_crm_countries_are_free_text_while_sap_uses_iso_codes(data: SandboxData) -> None:
    crm = Counter(a.get("BillingCountry") for a in data.salesforce["Account"])
    sap = {a["Country"] for a in data.sap[BP]["A_BusinessPartnerAddress"]}

    assert sap <= ISO_COUNTRIES and len(sap) >= 6
    assert crm["Germany"] and (crm["Deutschland"] or crm["DE"]) and (crm["USA"] or crm["United States"])


def test_addresses_are_one_line_in_the_crm_and_split_in_sap(data: SandboxData, truth: dict) -> None:
    streets = [a["BillingStreet"] for a, _ in _both_systems(data, truth) if a.get("BillingStreet")]
    sap = data.sap[BP]["A_BusinessPartnerAddress"]

    assert all(re.search(r"\d", s) for s in streets)
    assert sum(1 for a in sap if a["HouseNumber"]) > 0.9 * len(sap)
    assert not any(re.search(r"\d", a["StreetName"]) for a in sap if a["HouseNumber"])
    assert any("str." in s for s in streets) or any(re.search(r" (St|Ave|Rd)\.?\b", s) for s in streets)


def test_vat_numbers_and_phones_come_in_several_formats(data: SandboxData) -> None:
    accounts = data.salesforce["Account"]
    vats = [a["VAT_Number__c"] for a in accounts if "VAT_Number__c" in a]
    phones = [a["Phone"] for a in accounts if "Phone" in a]

    assert any(" " in v for v in vats) and any(v[:2].isalpha() and v[2:].isdigit() for v in vats)
    assert any(v.isdigit() for v in vats)
    assert any(p.startswith("+") for p in phones) and any(p.startswith("0") for p in phones)
    assert any(p.startswith("(") for p in phones) or any("." in p for p in phones)
    assert len(vats) < len(accounts)  # some tax ids are missing


def test_some_accounts_carry_a_hand_made_link_to_their_sap_customer(data: SandboxData, truth: dict) -> None:
    customers_of = {i: set(c["sap_customers"]) for c in truth["customers"] for i in c["salesforce"]}
    linked = [a for a in data.salesforce["Account"] if "SAP_Customer_Number__c" in a]

    assert 0 < len(linked) < len(data.salesforce["Account"]) / 2
    # The number on SAP's invoices: the customer's, not the business partner's.
    assert all(a["SAP_Customer_Number__c"].lstrip("0") in customers_of[a["Id"]] for a in linked)
    assert any(a["SAP_Customer_Number__c"].startswith("0") for a in linked)
    assert not any("SyncHub_Id__c" in a for a in data.salesforce["Account"])


def test_prices_include_expired_and_future_condition_records(data: SandboxData) -> None:
    records = data.sap[PRICING]["A_SlsPrcgConditionRecord"]
    reference_ms = 1_793_491_200_000  # 2026-11-01T00:00:00Z

    def ms(value: str) -> int:
        return int(value[6:-2])

    assert any(ms(r["ConditionValidityEndDate"]) < reference_ms for r in records)
    assert any(ms(r["ConditionValidityStartDate"]) > reference_ms for r in records)
    assert {r["ConditionRateValueUnit"] for r in records} >= {"EUR", "USD"}
    assert all(r["ConditionType"] == "PR00" for r in records)


# --- hard cases --------------------------------------------------------------------------------------

HARD = SeedOptions(seed=9, customers=1500, products=0, orders=0, hard_cases=0.3)


@pytest.fixture(scope="module")
def hard():
    return generate(HARD)


def test_hard_cases_group_look_alike_companies_each_with_its_own_truth_entry(hard) -> None:
    _, truth = hard
    groups: dict[str, list[dict]] = {}
    for company in truth["customers"]:
        if "group" in company:
            groups.setdefault(company["group"], []).append(company)
    kinds = {g.split("-")[0] for g in groups}
    assert kinds == {"sisters", "branches", "family", "franchise"}
    assert set(truth["hard_cases"]) == kinds and all(len(members) >= 2 for members in groups.values())
    share = sum(len(m) for m in groups.values()) / len(truth["customers"])
    assert 0.25 <= share <= 0.35


def test_sister_companies_share_an_address_but_not_a_legal_form_or_a_tax_id(hard) -> None:
    data, truth = hard
    partners = {p["BusinessPartner"]: p for p in expanded_partners(data.sap[BP_SERVICE])}
    sisters: dict[str, list] = {}
    for company in truth["customers"]:
        if company.get("group", "").startswith("sisters") and company["sap"]:
            sisters.setdefault(company["group"], []).append(partners[company["sap"][0]])
    checked = 0
    for members in sisters.values():
        if len(members) < 2:
            continue
        addresses = {  # street and number as one line (migrated partners keep the number in the street)
            (street_address([a["StreetName"], a["HouseNumber"]]), a["CityName"])
            for a in (p["to_BusinessPartnerAddress"][0] for p in members)
        }
        taxes = [t["BPTaxNumber"] for p in members for t in p["to_BusinessPartnerTax"]]
        assert len(addresses) == 1 and len(set(taxes)) == len(taxes)
        checked += 1
    assert checked >= 10


def test_hard_seeds_tax_ids_pass_their_checksums(hard) -> None:
    from stdnum import vatin

    data, _ = hard
    numbers = [t["BPTaxNumber"] for t in data.sap[BP_SERVICE]["A_BusinessPartnerTaxNumber"]]
    eu = [n.replace(" ", "") for n in numbers if n[:2].isalpha() and not n.startswith("CHE") and " " not in n]
    assert eu and sum(vatin.is_valid(n) for n in eu) / len(eu) >= 0.99


def test_a_company_keeps_one_duns_number_in_every_account() -> None:
    data, truth = generate(SeedOptions(seed=4, customers=600, products=0, orders=0))
    accounts = {a["Id"]: a for a in data.salesforce["Account"]}
    for company in truth["customers"]:
        numbers = {accounts[k].get("DunsNumber") for k in company["salesforce"]} - {None}
        assert len(numbers) <= 1

"""Deterministic seed data for both sandboxes: a CRM and an ERP that drifted apart, plus the truth.

``generate`` builds real-world companies (in several countries) and renders each into the CRM
(Salesforce Accounts), the ERP (SAP business partners with address, phone, e-mail, roles, tax
number, customer and sales area) or both, the way two hand-maintained systems hold the same
company: legal-form variants, typos, abbreviations, case, address and phone formats, country
names against ISO codes, missing tax ids, duplicates inside one system. ``truth.json`` lists,
per company, every record that stands for it in either system, so match quality can be scored.

Same options, same bytes: all randomness comes from ``random.Random`` streams seeded from the
options, Faker only fills name/street/city pools once per locale (``seed_instance``), and every
stamp is relative to a fixed reference date, never the clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.datadir import SandboxData, write_data_dir
from sandbox.seed.common import (
    BP_SERVICE,
    ORDER_SERVICE,
    PRICING_SERVICE,
    PRODUCT_SERVICE,
    REFERENCE_DATE,
    Rng,
    SeedOptions,
)
from sandbox.seed.customers import Customers
from sandbox.seed.hard_cases import HardCases
from sandbox.seed.orders import Orders
from sandbox.seed.products import Products


class Generator(Customers, HardCases, Products, Orders):
    """The whole generator: WorldBase draws the companies, each mixin renders one part of the data.

    Layout of this package: ``common`` (options, dates, value formats), ``tables`` (countries and word pools),
    ``world`` (pools and companies), ``customers``, ``hard_cases``, ``products`` and ``orders``.
    """


def generate(options: SeedOptions) -> tuple[SandboxData, dict]:
    """Both systems' records and the truth about which records are the same company, product or order."""
    if options.customers < 0 or options.products < 0 or options.orders < 0:
        raise ValueError("customers, products and orders must not be negative")
    if not 0.0 <= options.overlap <= 1.0 or not 0.0 <= options.duplicate_rate < 1.0:
        raise ValueError("overlap must be in [0, 1] and duplicate_rate in [0, 1)")
    if not 0.0 <= options.hard_cases <= 0.9:
        raise ValueError("hard_cases must be in [0, 0.9]")
    gen = Generator(options)
    companies = gen.companies()
    if options.hard_cases > 0:
        groups = gen.hard_cases(companies, Rng(f"{options.seed}-hard"))
        gen.truth["hard_cases"] = groups
    accounts = gen.accounts(companies, Rng(f"{options.seed}-accounts"))
    gen.data.sap[BP_SERVICE] = gen.partners(companies, Rng(f"{options.seed}-partners"))
    gen.link_accounts(companies, accounts, Rng(f"{options.seed}-links"))
    gen.data.salesforce["Account"] = accounts
    gen.products(Rng(f"{options.seed}-products"))
    gen.crm_products(Rng(f"{options.seed}-crm-products"))
    by_sf = {sf_id: c for c in companies for sf_id in c.sf_ids}
    gen.data.salesforce["Contact"] = gen.contacts(accounts, by_sf, Rng(f"{options.seed}-contacts"))
    gen.orders(accounts, by_sf, Rng(f"{options.seed}-orders"))
    truth = gen.truth
    truth["customers"] = [
        {
            "entity_id": c.entity_id,
            "name": c.canonical_name,
            "country": c.country.iso,
            "salesforce": c.sf_ids,
            "sap": c.sap_ids,
            "sap_customers": [gen.customer_of[bp] for bp in c.sap_ids],
        }
        | ({"group": c.group} if c.group else {})
        for c in companies
    ]
    truth["products"] = [{"sap": p["product"], "salesforce": p["sf_ids"]} for p in gen.product_info] + [
        {"sap": None, "salesforce": [pid]} for pid in gen.crm_only_products
    ]
    truth["orders"] = truth.pop("orders")  # after customers and products in the file
    return gen.data, truth


def write_seed(directory: Path, options: SeedOptions) -> Path:
    """Generate and write the data directory layout plus ``truth.json``; returns the directory."""
    directory = Path(directory)
    data, truth = generate(options)
    write_data_dir(directory, data)
    with (directory / "truth.json").open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(_truth_json(truth))
    return directory


def _truth_json(truth: dict[str, Any]) -> str:
    """Compact JSON with one list entry per line: small, fast, and readable in a diff."""

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    parts = []
    for key, value in truth.items():
        if isinstance(value, list):
            body = ",\n".join(f"  {dump(item)}" for item in value)
            parts.append(f"{dump(key)}:[\n{body}\n ]" if value else f"{dump(key)}:[]")
        else:
            parts.append(f"{dump(key)}:{dump(value)}")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def expanded_partners(sets: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The seeded partners as a read of A_BusinessPartner with its customer expands returns them.

    ``sets`` is ``data.sap["API_BUSINESS_PARTNER"]``. Each partner carries to_BusinessPartnerAddress
    (each address with to_EmailAddress and to_PhoneNumber), to_BusinessPartnerRole,
    to_BusinessPartnerTax and to_Customer (or None): the shape the SAP connector delivers, so tests and
    benchmarks can stage seeded partners without a server.
    """
    by_address: dict[str, dict[str, list[dict[str, Any]]]] = {"to_EmailAddress": {}, "to_PhoneNumber": {}}
    for nav, name in (
        ("to_EmailAddress", "A_AddressEmailAddress"),
        ("to_PhoneNumber", "A_AddressPhoneNumber"),
    ):
        for row in sets.get(name, []):
            by_address[nav].setdefault(row["AddressID"], []).append(row)
    by_partner: dict[str, dict[str, list[dict[str, Any]]]] = {
        "to_BusinessPartnerAddress": {},
        "to_BusinessPartnerRole": {},
        "to_BusinessPartnerTax": {},
    }
    for nav, name in (
        ("to_BusinessPartnerAddress", "A_BusinessPartnerAddress"),
        ("to_BusinessPartnerRole", "A_BusinessPartnerRole"),
        ("to_BusinessPartnerTax", "A_BusinessPartnerTaxNumber"),
    ):
        for row in sets.get(name, []):
            if nav == "to_BusinessPartnerAddress":
                row = row | {n: by_address[n].get(row["AddressID"], []) for n in by_address}
            by_partner[nav].setdefault(row["BusinessPartner"], []).append(row)
    customers = {row["Customer"]: row for row in sets.get("A_Customer", [])}
    return [
        partner
        | {nav: rows.get(partner["BusinessPartner"], []) for nav, rows in by_partner.items()}
        | {"to_Customer": customers.get(partner.get("Customer") or partner["BusinessPartner"])}
        for partner in sets.get("A_BusinessPartner", [])
    ]


__all__ = [
    "BP_SERVICE",
    "ORDER_SERVICE",
    "PRICING_SERVICE",
    "PRODUCT_SERVICE",
    "REFERENCE_DATE",
    "SeedOptions",
    "expanded_partners",
    "generate",
    "write_seed",
]

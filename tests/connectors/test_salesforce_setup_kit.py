"""The Salesforce setup kit (setup/salesforce): SyncHub's custom fields as a metadata package in source
format and the integration user's permission set; ``synchub connections test`` names what is missing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from mdm.cli import app
from mdm.config import entity_source
from mdm.entities import names as entity_names
from sandbox.salesforce.schema import load_schema

ENTITIES = entity_names()
KIT = Path(__file__).resolve().parents[2] / "setup" / "salesforce" / "force-app" / "main" / "default"
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


def kit_fields() -> dict[str, dict[str, str]]:
    """Object.Field -> the field's metadata (externalId, unique, length, type)."""
    out = {}
    for path in KIT.glob("objects/*/fields/*.field-meta.xml"):
        root = ET.parse(path).getroot()
        values = {child.tag.split("}")[1]: (child.text or "") for child in root}
        out[f"{path.parent.parent.name}.{values['fullName']}"] = values
    return out


def mapped_custom_fields() -> dict[str, bool]:
    """Object.Field -> whether SyncHub upserts on it, for every custom field the mappings name."""
    out: dict[str, bool] = {}
    for entity in ENTITIES:
        src = entity_source(entity).salesforce
        names = [*src.fields, *src.writable, *([src.external_id] if src.external_id else [])]
        for name in names:
            if "." in name:  # a relationship path: Account.SAP_Customer_Number__c read from an order
                relation, field = name.rsplit(".", 1)
                target = {"Account": "Account", "Product2": "Product2"}.get(relation)
                if target and field.endswith("__c"):
                    out.setdefault(f"{target}.{field}", False)
                continue
            if name.endswith("__c"):
                out[f"{src.object}.{name}"] = (
                    out.get(f"{src.object}.{name}", False) or name == src.external_id
                )
        for child in src.children:
            for name in child.fields:
                if name.endswith("__c") and "." not in name:
                    out.setdefault(f"{child.object}.{name}", False)
    return out


def test_the_package_defines_every_custom_field_the_mappings_use_with_its_external_id_flag() -> None:
    fields, used = kit_fields(), mapped_custom_fields()
    assert used, "the mappings name no custom field"
    missing = sorted(set(used) - set(fields))
    assert not missing, f"setup/salesforce lacks {missing}"
    for name, upserted in used.items():
        if upserted:
            assert fields[name]["externalId"] == "true", name
            assert fields[name]["unique"] == "true", name
    # The sandbox org is built to the same definitions: what a test passes, a deployed org has.
    schema = load_schema()
    for name, meta in fields.items():
        obj, field = name.split(".")
        defined = schema[obj].fields[field]
        assert (defined.external_id, defined.unique, defined.length) == (
            meta["externalId"] == "true",
            meta["unique"] == "true",
            int(meta["length"]),
        ), name


def test_the_permission_set_grants_each_field_and_editing_activated_orders() -> None:
    root = ET.parse(KIT / "permissionsets" / "SyncHub_Integration.permissionset-meta.xml").getroot()
    editable = {
        p.findtext("md:field", namespaces=NS)
        for p in root.findall("md:fieldPermissions", NS)
        if p.findtext("md:editable", namespaces=NS) == "true"
    }
    assert editable == set(kit_fields())
    enabled = {
        p.findtext("md:name", namespaces=NS)
        for p in root.findall("md:userPermissions", NS)
        if p.findtext("md:enabled", namespaces=NS) == "true"
    }
    assert {"ApiEnabled", "EditActivatedOrders"} <= enabled


def test_connections_test_against_an_org_without_synchub_fields_names_each_and_the_package(
    sandbox_factory,
) -> None:
    """Issue 11: a CRM sandbox started without SyncHub's custom fields fails the check, naming each
    missing field and the metadata package that adds it."""
    from sandbox.seed import SeedOptions

    sandbox_factory(seed=SeedOptions(seed=3, customers=10, products=3, orders=2), crm_synchub_fields=False)

    result = CliRunner().invoke(app, ["connections", "test"], terminal_width=400)

    assert result.exit_code == 1, result.output
    output = re.sub(r"\s+", " ", result.output)
    for name in mapped_custom_fields():
        assert name in output, name
    assert "setup/salesforce" in output
    assert "sf project deploy start" in output


def test_connections_test_passes_the_fields_check_on_an_org_with_the_package(sandbox_factory) -> None:
    from sandbox.seed import SeedOptions

    sandbox_factory(seed=SeedOptions(seed=3, customers=10, products=3, orders=2))
    result = CliRunner().invoke(app, ["connections", "test"], terminal_width=400)
    lines = [line for line in result.output.splitlines() if "fields:" in line]
    assert lines and all("ok" in line and "FAIL" not in line for line in lines), result.output

"""The SAP sandbox answering $metadata from files (`sandbox up --sap-metadata DIR`): e.g. SAP's published
models, which carry more properties and vocabulary annotations than the sandbox's generated ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import WriteRecord
from connectors.sap import SapConnector
from mdm.config import entity_source
from sandbox.runner import load_sap_metadata
from sandbox.sap.metadata import metadata_xml
from sandbox.seed import SeedOptions

pytestmark = pytest.mark.integration
SMALL = SeedOptions(seed=3, customers=12, products=4, orders=4)

# What SAP's published models add to the generated one: vocabulary annotations pyodata does not
# interpret, properties the sandbox does not keep, and read-only markers.
ANNOTATIONS = (
    '<Annotations Target="API_BUSINESS_PARTNER.API_BUSINESS_PARTNER_Entities/A_BusinessPartner" '
    'xmlns="http://docs.oasis-open.org/odata/ns/edm">'
    '<Annotation Term="Capabilities.FilterRestrictions"><Record/></Annotation></Annotations>'
)


def _published_like() -> bytes:
    xml = metadata_xml("API_BUSINESS_PARTNER").decode()
    xml = xml.replace(
        '<Property Name="Customer" Type="Edm.String" MaxLength="10"',
        '<Property Name="YY1_Segment_bus" Type="Edm.String" MaxLength="10" sap:label="Segment"/>'
        '<Property Name="Customer" Type="Edm.String" MaxLength="10" '
        'sap:creatable="false" sap:updatable="false"',
        1,
    )
    assert "YY1_Segment_bus" in xml
    return xml.replace("</Schema>", ANNOTATIONS + "</Schema>", 1).encode()


def test_metadata_files_that_do_not_fit_are_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no <SERVICE>.edmx"):
        load_sap_metadata(tmp_path)
    (tmp_path / "API_UNKNOWN_SRV.edmx").write_text("<x/>")
    with pytest.raises(ValueError, match="API_UNKNOWN_SRV.edmx: not a service the SAP sandbox serves"):
        load_sap_metadata(tmp_path)
    (tmp_path / "API_UNKNOWN_SRV.edmx").unlink()
    v4 = '<edmx:Edmx Version="4.01" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"/>'
    (tmp_path / "API_SALES_ORDER_SRV.edmx").write_text(v4)
    with pytest.raises(ValueError, match=r"API_SALES_ORDER_SRV.edmx: not OData V2 metadata .*'4.01'"):
        load_sap_metadata(tmp_path)
    (tmp_path / "API_SALES_ORDER_SRV.edmx").write_text("<edmx:Edmx")
    with pytest.raises(ValueError, match="not XML"):
        load_sap_metadata(tmp_path)


def test_the_connector_reads_and_writes_with_a_published_like_model(sandbox_factory, tmp_path: Path) -> None:
    (tmp_path / "API_BUSINESS_PARTNER.edmx").write_bytes(_published_like())
    sandboxes = sandbox_factory(seed=SMALL, sap_metadata_dir=tmp_path)
    connector = SapConnector.from_airflow("synchub_erp")
    customer = entity_source("customer")

    served = connector.session.get(connector.service_url("API_BUSINESS_PARTNER") + "$metadata")
    assert b"YY1_Segment_bus" in served.content and b"Capabilities.FilterRestrictions" in served.content
    assert all(r.ok for r in connector.check([customer])), connector.check([customer])
    records = [r for page in connector.extract_changed(customer, None) for r in page.records]
    assert len(records) == len(
        sandboxes.sap.records(sandboxes.sap.entity_set("API_BUSINESS_PARTNER", "A_BusinessPartner"))
    )
    assert all(r.payload.get("YY1_Segment_bus") is None for r in records)  # in the model, not the data

    partner = {
        "BusinessPartnerCategory": "2",
        "BusinessPartnerGrouping": "BP02",
        "OrganizationBPName1": "Lambda GmbH",
        "to_BusinessPartnerAddress": [
            {"Country": "DE", "CityName": "Köln", "to_EmailAddress": [{"EmailAddress": "a@lambda.example"}]}
        ],
        "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
    }
    [outcome] = connector.write_batch(customer, [WriteRecord("SH-L-1", partner)])
    assert outcome.status == "created", outcome.error_message
    [created] = connector.read_keys(customer, [outcome.remote_key])
    assert created.payload["Customer"] and created.payload["BusinessPartnerIDByExtSystem"] == "SH-L-1"

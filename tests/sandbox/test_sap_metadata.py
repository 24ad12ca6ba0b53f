"""The SAP sandbox's $metadata documents: strict pyodata parsing (in memory and over HTTPS) and the
S/4 conventions the connector relies on (types, keys, ETag concurrency, associations, capabilities)."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

import pyodata
import pytest
import requests
from pyodata.v2.model import Config, MetadataBuilder, PolicyFatal
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.sap.metadata import NS_EDM, NS_EDMX, NS_M, NS_SAP, capabilities, metadata_xml
from sandbox.sap.model import SERVICE_ROOT, SERVICES, find_set, load_model
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls

NS = {"edmx": NS_EDMX, "edm": NS_EDM, "m": NS_M, "sap": NS_SAP}
SAP = "{" + NS_SAP + "}"


def metadata_route(request: Request) -> Response:
    service = request.path_params["service"]
    if service not in SERVICES:
        return Response(status_code=404)
    return Response(metadata_xml(service), media_type="application/xml")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls: TlsFiles) -> Iterator[ServerHandle]:
    app = Starlette(routes=[Route(SERVICE_ROOT + "{service}/$metadata", metadata_route)])
    handle = serve(app, tls=tls)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def session(tls: TlsFiles) -> requests.Session:
    session = requests.Session()
    session.verify = str(tls.ca_cert)
    session.trust_env = False  # else requests lets REQUESTS_CA_BUNDLE override session.verify
    return session


def parsed(service: str) -> ElementTree.Element:
    return ElementTree.fromstring(metadata_xml(service))


def entity_type(service: str, name: str) -> ElementTree.Element:
    node = parsed(service).find(f".//edm:EntityType[@Name='{name}']", NS)
    assert node is not None
    return node


def property_node(service: str, type_name: str, prop: str) -> ElementTree.Element:
    node = entity_type(service, type_name).find(f"edm:Property[@Name='{prop}']", NS)
    assert node is not None
    return node


@pytest.mark.parametrize("service", SERVICES)
def test_pyodata_metadata_builder_parses_every_service_strictly(service: str) -> None:
    schema = MetadataBuilder(metadata_xml(service), config=Config(default_error_policy=PolicyFatal())).build()
    assert schema.is_valid
    assert {s.name for s in schema.entity_sets} == set(load_model()[service])


@pytest.mark.parametrize("service", SERVICES)
def test_pyodata_client_loads_every_service_over_https(server: ServerHandle, session, service: str) -> None:
    client = pyodata.Client(f"{server.url}{SERVICE_ROOT}{service}/", session)
    for name, entity_set in load_model()[service].items():
        etype = client.schema.entity_set(name).entity_type
        assert etype.name == entity_set.type_name
        assert [p.name for p in etype.key_proprties] == list(entity_set.keys)
        assert {n.name for n in etype.nav_proprties} == set(entity_set.navigations)


def test_the_document_declares_odata_v2_with_sap_namespaces() -> None:
    root = parsed("API_BUSINESS_PARTNER")
    assert root.tag == f"{{{NS_EDMX}}}Edmx" and root.get("Version") == "1.0"
    services = root.find("edmx:DataServices", NS)
    assert services is not None and services.get(f"{{{NS_M}}}DataServiceVersion") == "2.0"
    schema = services.find("edm:Schema", NS)
    assert schema is not None
    assert schema.get("Namespace") == "API_BUSINESS_PARTNER"
    assert schema.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert schema.get(f"{SAP}schema-version") == "1"


def test_the_entity_container_is_the_default_one_named_after_the_service() -> None:
    container = parsed("API_PRODUCT_SRV").find(".//edm:EntityContainer", NS)
    assert container is not None
    assert container.get("Name") == "API_PRODUCT_SRV_Entities"
    assert container.get(f"{{{NS_M}}}IsDefaultEntityContainer") == "true"


def test_entity_sets_declare_their_capabilities() -> None:
    container = parsed("API_BUSINESS_PARTNER").find(".//edm:EntityContainer", NS)
    assert container is not None
    bp = container.find("edm:EntitySet[@Name='A_BusinessPartner']", NS)
    assert bp is not None
    assert bp.get("EntityType") == "API_BUSINESS_PARTNER.A_BusinessPartnerType"
    assert (bp.get(f"{SAP}creatable"), bp.get(f"{SAP}updatable"), bp.get(f"{SAP}deletable")) == (
        "true",
        "true",
        "false",
    )
    assert bp.get(f"{SAP}pageable") == "true" and bp.get(f"{SAP}content-version") == "1"
    assert capabilities(find_set("A_BusinessPartner"))["deletable"] is False


def test_string_keys_are_not_nullable_and_carry_their_max_length() -> None:
    node = property_node("API_BUSINESS_PARTNER", "A_BusinessPartnerType", "BusinessPartner")
    assert (node.get("Type"), node.get("Nullable"), node.get("MaxLength")) == ("Edm.String", "false", "10")
    other = property_node("API_BUSINESS_PARTNER", "A_BusinessPartnerType", "BusinessPartnerIDByExtSystem")
    assert other.get("Nullable") is None and other.get("MaxLength") == "20"


def test_date_typed_datetime_properties_have_the_date_display_format() -> None:
    date = property_node("API_BUSINESS_PARTNER", "A_BusinessPartnerType", "LastChangeDate")
    assert (date.get("Type"), date.get(f"{SAP}display-format")) == ("Edm.DateTime", "Date")
    time = property_node("API_BUSINESS_PARTNER", "A_BusinessPartnerType", "LastChangeTime")
    assert time.get("Type") == "Edm.Time" and time.get(f"{SAP}display-format") is None


def test_decimals_carry_precision_and_scale() -> None:
    node = property_node("API_SALES_ORDER_SRV", "A_SalesOrderItemType", "NetAmount")
    assert (node.get("Type"), node.get("Precision"), node.get("Scale")) == ("Edm.Decimal", "16", "3")


def test_properties_have_sap_labels() -> None:
    node = property_node("API_BUSINESS_PARTNER", "A_BusinessPartnerType", "BusinessPartnerFullName")
    assert node.get(f"{SAP}label") == "Business Partner Full Name"


def test_only_etag_sets_have_a_fixed_concurrency_token() -> None:
    order = property_node("API_SALES_ORDER_SRV", "A_SalesOrderType", "LastChangeDateTime")
    assert order.get("ConcurrencyMode") == "Fixed"
    product = property_node("API_PRODUCT_SRV", "A_ProductType", "LastChangeDateTime")
    assert product.get("ConcurrencyMode") is None
    fixed = [n for n in parsed("API_SALES_ORDER_SRV").iter() if n.get("ConcurrencyMode")]
    assert len(fixed) == 1


def test_navigation_multiplicities_are_many_optional_or_parent() -> None:
    schema = MetadataBuilder(metadata_xml("API_BUSINESS_PARTNER")).build()
    bp = schema.entity_type("A_BusinessPartnerType")
    assert bp.nav_proprty("to_BusinessPartnerAddress").to_role.multiplicity == "*"
    assert bp.nav_proprty("to_Customer").to_role.multiplicity == "0..1"
    assert bp.nav_proprty("to_Customer").to_role.entity_type.name == "A_CustomerType"
    orders = MetadataBuilder(metadata_xml("API_SALES_ORDER_SRV")).build()
    item = orders.entity_type("A_SalesOrderItemType")
    assert item.nav_proprty("to_SalesOrder").to_role.multiplicity == "1"
    ends = {end.role: end.multiplicity for end in item.nav_proprty("to_SalesOrder").association.end_roles}
    assert sorted(ends.values()) == ["1", "1"]


def test_every_navigation_has_an_association_set_between_the_right_entity_sets() -> None:
    schema = MetadataBuilder(metadata_xml("API_BUSINESS_PARTNER")).build()
    nav = schema.entity_type("A_BusinessPartnerAddressType").nav_proprty("to_PhoneNumber")
    assoc_set = schema.association_set_by_association(nav.association.name)
    assert {end.entity_set_name for end in assoc_set.end_roles} == {
        "A_BusinessPartnerAddress",
        "A_AddressPhoneNumber",
    }
    total_navs = sum(len(s.navigations) for s in load_model()["API_BUSINESS_PARTNER"].values())
    assert len(schema.association_sets) == total_navs


def test_unmodelled_navigation_targets_are_left_out() -> None:
    bp = entity_type("API_BUSINESS_PARTNER", "A_BusinessPartnerType")
    names = {n.get("Name") for n in bp.findall("edm:NavigationProperty", NS)}
    assert "to_Customer" in names and "to_Supplier" not in names and "to_BusinessPartnerBank" not in names


def test_the_document_is_stable_between_calls() -> None:
    assert metadata_xml("API_SALES_ORDER_SRV") == metadata_xml("API_SALES_ORDER_SRV")


def test_an_unknown_service_has_no_metadata() -> None:
    with pytest.raises(KeyError):
        metadata_xml("API_UNKNOWN_SRV")

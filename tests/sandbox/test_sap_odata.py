"""OData V2 rules of the SAP sandbox: SAP's error body, the value codec, keys, entities and the query
options, checked directly and through the unmodified pyodata client over HTTPS.

Long (about 750 lines) because the codec and query-option cases are tables of one wire format, and the
client-level checks share module-scoped pyodata clients (one offline, one on a running sandbox).
"""

from __future__ import annotations

import json
import re
import time as clock
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal

import pyodata
import pytest
import requests
from pyodata.exceptions import HttpError
from pyodata.v2.service import GetEntitySetFilter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.sap.metadata import metadata_xml
from sandbox.sap.model import SERVICE_ROOT, Property, find_set
from sandbox.sap.odata import (
    ODataError,
    decode_value,
    encode_entity,
    encode_value,
    entity_key_path,
    etag_of,
    initial_value,
)
from sandbox.sap.odata_query import (
    parse_expand,
    parse_filter,
    parse_key_predicate,
    parse_orderby,
    parse_select,
    sort_records,
)
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls

BP = find_set("A_BusinessPartner")
ADDRESS = find_set("A_BusinessPartnerAddress")
ORDER = find_set("A_SalesOrder")
ITEM = find_set("A_SalesOrderItem")
VALIDITY = find_set("A_SlsPrcgCndnRecdValidity")
PRODUCT = find_set("A_Product")


def prop(entity_set, name: str) -> Property:
    return entity_set.properties[name]


def partner(number: str, **values: object) -> dict:
    return {"BusinessPartner": number, **values}


PARTNERS = [
    partner(
        "1000001",
        BusinessPartnerFullName="O'Neil Trading",
        FirstName="Ann",
        BusinessPartnerIsBlocked=False,
        LastChangeDate=datetime(2026, 11, 20),
        LastChangeTime=time(9, 30),
        BusinessPartnerUUID="a3bb189e-8bf9-3888-9912-ace4e6543002",
    ),
    partner(
        "1000002",
        BusinessPartnerFullName="Acme GmbH",
        FirstName="Bob",
        BusinessPartnerIsBlocked=True,
        LastChangeDate=datetime(2026, 11, 23),
        LastChangeTime=time(10, 0),
    ),
    partner("1000003", BusinessPartnerFullName="acme corp", FirstName=None, BusinessPartnerIsBlocked=False),
]


def matching(expr: str, records: list[dict] = PARTNERS, entity_set=BP) -> list[str]:
    predicate = parse_filter(expr, entity_set)
    return [r[entity_set.keys[0]] for r in records if predicate(r)]


def error_of(call, *args) -> ODataError:
    with pytest.raises(ODataError) as info:
        call(*args)
    return info.value


# ---------------------------------------------------------------------------------------------- errors


def test_error_body_has_sap_gateway_shape() -> None:
    error = ODataError(400, "SY/530", "Business partner is locked", service="API_BUSINESS_PARTNER")
    body = error.to_json()["error"]
    assert body["code"] == "SY/530"
    assert body["message"] == {"lang": "en", "value": "Business partner is locked"}
    inner = body["innererror"]
    assert inner["application"]["service_id"] == "API_BUSINESS_PARTNER"
    assert re.fullmatch(r"[0-9A-F]{32}", inner["transactionid"])
    assert re.fullmatch(r"\d{14}\.\d{7}", inner["timestamp"])
    assert set(inner["Error_Resolution"]) == {"SAP_Transaction", "SAP_Note"}
    assert inner["errordetails"] == []
    json.dumps(error.to_json())


def test_error_details_are_completed_with_sap_defaults() -> None:
    error = ODataError(400, "/IWBEP/CM_MGW_RT/022", "Invalid", [{"propertyref": "Customer"}])
    detail = error.to_json()["error"]["innererror"]["errordetails"][0]
    assert detail == {
        "code": "/IWBEP/CM_MGW_RT/022",
        "message": "Invalid",
        "propertyref": "Customer",
        "severity": "error",
        "target": "",
    }
    assert error.status == 400


# ----------------------------------------------------------------------------------------------- codec


@pytest.mark.parametrize(
    ("entity_set", "name", "wire", "native"),
    [
        (BP, "BusinessPartner", "1000001", "1000001"),
        (
            BP,
            "BusinessPartnerUUID",
            "a3bb189e-8bf9-3888-9912-ace4e6543002",
            "a3bb189e-8bf9-3888-9912-ace4e6543002",
        ),
        (BP, "IsMale", True, True),
        (ITEM, "NetAmount", "12.300", Decimal("12.300")),
        (ITEM, "NetAmount", "-0.500", Decimal("-0.5")),
        (PRODUCT, "QuarantinePeriod", "7", Decimal(7)),
        (BP, "LastChangeDate", "/Date(1795392000000)/", datetime(2026, 11, 23)),
        (ORDER, "LastChangeDateTime", "/Date(1795428000000+0000)/", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        (BP, "LastChangeTime", "PT15H04M05S", time(15, 4, 5)),
        (BP, "FirstName", None, None),
    ],
)
def test_wire_values_round_trip(entity_set, name: str, wire: object, native: object) -> None:
    decoded = decode_value(prop(entity_set, name), wire)
    assert decoded == native
    assert encode_value(prop(entity_set, name), decoded) == wire


@pytest.mark.parametrize(
    ("edm", "wire", "native"),
    [("Edm.Int32", 42, 42), ("Edm.Int64", "9000000000", 9_000_000_000), ("Edm.Double", 1.5, 1.5)],
)
def test_numeric_edm_types_round_trip(edm: str, wire: object, native: object) -> None:
    p = Property("Number", edm)
    assert decode_value(p, wire) == native
    assert encode_value(p, native) == wire


@pytest.mark.parametrize(
    ("entity_set", "name", "raw", "native"),
    [
        (BP, "LastChangeDate", "2026-11-23", datetime(2026, 11, 23)),
        (BP, "LastChangeDate", "2026-11-23T00:00:00", datetime(2026, 11, 23)),
        (ORDER, "LastChangeDateTime", "2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        (ORDER, "LastChangeDateTime", "2026-11-23T11:00:00+01:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        (ORDER, "LastChangeDateTime", "2026-11-23T10:00:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        (
            ORDER,
            "LastChangeDateTime",
            "2026-11-23T10:00:00.1234567Z",
            datetime(2026, 11, 23, 10, 0, 0, 123456, UTC),
        ),
        (BP, "LastChangeTime", "PT10H", time(10)),
        (BP, "LastChangeTime", "10:00:00", time(10)),
        (BP, "LastChangeTime", "10:04", time(10, 4)),
        (ITEM, "NetAmount", 12.5, Decimal("12.500")),
        (ITEM, "NetAmount", 7, Decimal("7.000")),
        (BP, "IsMale", "false", False),
        (
            BP,
            "BusinessPartnerUUID",
            "A3BB189E-8BF9-3888-9912-ACE4E6543002",
            "a3bb189e-8bf9-3888-9912-ace4e6543002",
        ),
    ],
)
def test_data_file_forms_are_accepted(entity_set, name: str, raw: object, native: object) -> None:
    assert decode_value(prop(entity_set, name), raw) == native


def test_a_datetime_offset_sent_by_pyodata_is_read_in_its_own_convention() -> None:
    # pyodata writes wall-clock ticks plus the offset in minutes
    value = decode_value(prop(ORDER, "LastChangeDateTime"), "/Date(1795431600000+0060)/")
    assert value == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_a_date_property_keeps_only_the_date() -> None:
    value = decode_value(prop(BP, "LastChangeDate"), "2026-11-23T17:45:00")
    assert value == datetime(2026, 11, 23)


def test_a_string_longer_than_max_length_is_rejected_naming_the_property() -> None:
    error = error_of(decode_value, prop(BP, "BusinessPartnerIDByExtSystem"), "X" * 21)
    assert error.status == 400
    assert "BusinessPartnerIDByExtSystem" in error.message and "20" in error.message
    detail = error.to_json()["error"]["innererror"]["errordetails"][0]
    assert detail["propertyref"] == "BusinessPartnerIDByExtSystem" and detail["severity"] == "error"


def test_a_string_of_exactly_max_length_is_accepted() -> None:
    assert decode_value(prop(BP, "BusinessPartnerIDByExtSystem"), "X" * 20) == "X" * 20


@pytest.mark.parametrize(
    ("entity_set", "name", "raw"),
    [
        (ITEM, "NetAmount", "1.2345"),  # scale 3
        (ITEM, "NetAmount", "12345678901234.5"),  # precision 16, scale 3: 13 integer digits
        (ITEM, "NetAmount", "1e40"),
        (ITEM, "NetAmount", "abc"),
        (ITEM, "NetAmount", True),
        (BP, "FirstName", 12),
        (BP, "IsMale", "yes"),
        (BP, "BusinessPartnerUUID", "not-a-guid"),
        (BP, "LastChangeDate", "23.11.2026"),
        (BP, "LastChangeTime", "PT25H"),
        (BP, "LastChangeTime", "later"),
        (BP, "BusinessPartner", None),  # keys are not nullable
    ],
)
def test_invalid_values_are_a_400_naming_the_property(entity_set, name: str, raw: object) -> None:
    error = error_of(decode_value, prop(entity_set, name), raw)
    assert error.status == 400
    assert error.details[0]["propertyref"] == name


def test_decimals_are_written_with_the_property_scale() -> None:
    assert encode_value(prop(ORDER, "AccountingExchangeRate"), Decimal("1.1")) == "1.10000"
    assert encode_value(prop(PRODUCT, "QuarantinePeriod"), Decimal(3)) == "3"


# ------------------------------------------------------------------------------------ keys and entities


def test_key_paths_for_simple_and_compound_keys() -> None:
    assert entity_key_path(BP, partner("1000001")) == "A_BusinessPartner('1000001')"
    record = {"BusinessPartner": "1", "AddressID": "2"}
    assert entity_key_path(ADDRESS, record) == "A_BusinessPartnerAddress(BusinessPartner='1',AddressID='2')"


def test_key_paths_escape_quotes_and_datetime_colons() -> None:
    assert entity_key_path(BP, partner("O'1")) == "A_BusinessPartner('O''1')"
    record = {"ConditionRecord": "0000000001", "ConditionValidityEndDate": datetime(9999, 12, 31)}
    assert entity_key_path(VALIDITY, record) == (
        "A_SlsPrcgCndnRecdValidity(ConditionRecord='0000000001',"
        "ConditionValidityEndDate=datetime'9999-12-31T00%3A00%3A00')"
    )


@pytest.mark.parametrize(
    ("entity_set", "text", "expected"),
    [
        (BP, "('1000001')", {"BusinessPartner": "1000001"}),
        (BP, "(BusinessPartner='1000001')", {"BusinessPartner": "1000001"}),
        (BP, "('O''Neil')", {"BusinessPartner": "O'Neil"}),
        (ADDRESS, "(BusinessPartner='1',AddressID='2')", {"BusinessPartner": "1", "AddressID": "2"}),
        (ADDRESS, "(AddressID='2',BusinessPartner='1')", {"BusinessPartner": "1", "AddressID": "2"}),
        (
            VALIDITY,
            "(ConditionRecord='0000000001',ConditionValidityEndDate=datetime'9999-12-31T00:00:00')",
            {"ConditionRecord": "0000000001", "ConditionValidityEndDate": datetime(9999, 12, 31)},
        ),
    ],
)
def test_key_predicates_are_parsed_to_stored_values(entity_set, text: str, expected: dict) -> None:
    assert parse_key_predicate(entity_set, text) == expected


@pytest.mark.parametrize(
    ("entity_set", "text"),
    [
        (BP, "(1000001)"),
        (BP, "('1000001'"),
        (BP, "(Customer='1')"),
        (BP, "('12345678901')"),  # longer than MaxLength 10
        (ADDRESS, "('1')"),
        (ADDRESS, "(BusinessPartner='1')"),
        (ADDRESS, "(BusinessPartner='1',AddressID='2',AddressID='3')"),
        (VALIDITY, "(ConditionRecord='1',ConditionValidityEndDate='9999-12-31')"),
    ],
)
def test_malformed_key_predicates_are_a_400(entity_set, text: str) -> None:
    assert error_of(parse_key_predicate, entity_set, text).status == 400


def test_an_entity_carries_sap_metadata_and_deferred_navigations() -> None:
    record = partner("1000001", FirstName="Ann", LastChangeDate=datetime(2026, 11, 23))
    out = encode_entity(BP, record, "https://h/sap/opu/odata/sap/API_BUSINESS_PARTNER/", None)
    uri = "https://h/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner('1000001')"
    assert out["__metadata"] == {"id": uri, "uri": uri, "type": "API_BUSINESS_PARTNER.A_BusinessPartnerType"}
    assert out["FirstName"] == "Ann" and out["LastName"] is None
    assert out["LastChangeDate"] == "/Date(1795392000000)/"
    assert out["to_Customer"] == {"__deferred": {"uri": f"{uri}/to_Customer"}}
    assert set(out) == {"__metadata", *BP.properties, *BP.navigations}


def test_selected_entities_carry_only_the_selected_properties() -> None:
    out = encode_entity(BP, partner("1", FirstName="Ann"), "https://h/s", ["FirstName"])
    assert set(out) == {"__metadata", "FirstName"}
    assert out["__metadata"]["uri"] == "https://h/s/A_BusinessPartner('1')"


def test_etag_sets_carry_a_weak_etag_from_last_change_datetime() -> None:
    record = {"SalesOrder": "1", "LastChangeDateTime": datetime(2026, 11, 23, 10, tzinfo=UTC)}
    etag = etag_of(ORDER, record)
    assert etag == "W/\"datetimeoffset'2026-11-23T10%3A00%3A00.0000000Z'\""
    assert encode_entity(ORDER, record, "https://h/", ["SalesOrder"])["__metadata"]["etag"] == etag
    later = {**record, "LastChangeDateTime": record["LastChangeDateTime"] + timedelta(microseconds=1)}
    assert etag_of(ORDER, later) != etag


def test_sets_without_etag_have_none() -> None:
    record = {"Product": "P1", "LastChangeDateTime": datetime(2026, 11, 23, tzinfo=UTC)}
    assert etag_of(PRODUCT, record) is None
    assert "etag" not in encode_entity(PRODUCT, record, "https://h/", None)["__metadata"]


# ---------------------------------------------------------------------------------------------- $filter


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("BusinessPartner eq '1000002'", ["1000002"]),
        ("BusinessPartner ne '1000002'", ["1000001", "1000003"]),
        ("BusinessPartner gt '1000002'", ["1000003"]),
        ("BusinessPartner ge '1000002'", ["1000002", "1000003"]),
        ("BusinessPartner lt '1000002'", ["1000001"]),
        ("BusinessPartner le '1000002'", ["1000001", "1000002"]),
    ],
)
def test_comparison_operators(expr: str, expected: list[str]) -> None:
    assert matching(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("FirstName eq 'Ann' or FirstName eq 'Bob'", ["1000001", "1000002"]),
        ("FirstName eq 'Ann' and BusinessPartnerIsBlocked eq true", []),
        ("not (BusinessPartnerIsBlocked eq true)", ["1000001", "1000003"]),
        ("not BusinessPartnerIsBlocked", ["1000001", "1000003"]),
        ("not BusinessPartnerIsBlocked eq false", ["1000002"]),
        ("not substringof('Acme', BusinessPartnerFullName)", ["1000001", "1000003"]),
        ("BusinessPartnerIsBlocked", ["1000002"]),
        # and binds tighter than or
        ("FirstName eq 'Bob' or FirstName eq 'Ann' and BusinessPartnerIsBlocked eq true", ["1000002"]),
        ("(FirstName eq 'Bob' or FirstName eq 'Ann') and BusinessPartnerIsBlocked eq false", ["1000001"]),
        ("((BusinessPartner eq '1000003'))", ["1000003"]),
    ],
)
def test_logical_operators_and_parentheses(expr: str, expected: list[str]) -> None:
    assert matching(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("substringof('cme', BusinessPartnerFullName)", ["1000002", "1000003"]),
        ("substringof('cme', BusinessPartnerFullName) eq true", ["1000002", "1000003"]),
        ("startswith(BusinessPartnerFullName, 'Acme') eq true", ["1000002"]),
        ("endswith(BusinessPartnerFullName,'corp')", ["1000003"]),
        ("tolower(BusinessPartnerFullName) eq 'acme gmbh'", ["1000002"]),
        ("toupper(BusinessPartnerFullName) eq 'ACME CORP'", ["1000003"]),
        ("startswith(tolower(BusinessPartnerFullName), 'acme')", ["1000002", "1000003"]),
        ("length(FirstName) eq 3", ["1000001", "1000002"]),
        ("substringof('ann', FirstName) eq false", ["1000001", "1000002", "1000003"]),
    ],
)
def test_string_functions(expr: str, expected: list[str]) -> None:
    assert matching(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("BusinessPartnerFullName eq 'O''Neil Trading'", ["1000001"]),
        ("LastChangeDate ge datetime'2026-11-21T00:00:00'", ["1000002"]),
        ("LastChangeDate eq datetime'2026-11-20T00:00'", ["1000001"]),
        ("LastChangeDate lt datetime'2026-11-23T00:00:00.0000000'", ["1000001"]),
        ("LastChangeDate ge datetimeoffset'2026-11-22T23:00:00+02:00'", ["1000002"]),
        ("LastChangeTime ge time'PT10H'", ["1000002"]),
        ("LastChangeTime lt time'PT09H30M01S'", ["1000001"]),
        ("BusinessPartnerUUID eq guid'A3BB189E-8BF9-3888-9912-ACE4E6543002'", ["1000001"]),
        ("FirstName eq null", ["1000003"]),
        ("FirstName ne null", ["1000001", "1000002"]),
        ("LastChangeDate gt null", []),
        ("BusinessPartnerIsBlocked eq false", ["1000001", "1000003"]),
    ],
)
def test_literals(expr: str, expected: list[str]) -> None:
    assert matching(expr) == expected


@pytest.mark.parametrize("literal", ["12.5", "12.5M", "12.5m", "125E-1", "12.5d", "12.5f"])
def test_decimal_literals(literal: str) -> None:
    records = [{"SalesOrder": "1", "SalesOrderItem": "10", "NetAmount": Decimal("12.500")}]
    assert matching(f"NetAmount eq {literal}", records, ITEM) == ["1"]


@pytest.mark.parametrize("literal", ["12", "12L", "12.000M"])
def test_integer_literals_compare_with_decimals(literal: str) -> None:
    records = [{"SalesOrder": "1", "SalesOrderItem": "10", "NetAmount": Decimal("12.000")}]
    assert matching(f"NetAmount ge {literal}", records, ITEM) == ["1"]
    assert matching(f"NetAmount gt {literal}", records, ITEM) == []


def test_datetimeoffset_properties_compare_with_both_datetime_literals() -> None:
    records = [{"SalesOrder": "1", "LastChangeDateTime": datetime(2026, 11, 23, 10, tzinfo=UTC)}]
    assert matching("LastChangeDateTime ge datetimeoffset'2026-11-23T10:00:00Z'", records, ORDER) == ["1"]
    assert matching("LastChangeDateTime gt datetimeoffset'2026-11-23T10:00:00+01:00'", records, ORDER) == [
        "1"
    ]
    assert matching("LastChangeDateTime lt datetime'2026-11-23T10:00:01'", records, ORDER) == ["1"]


def test_records_missing_a_property_compare_as_null() -> None:
    assert matching("LastChangeTime ge time'PT00H'") == ["1000001", "1000002"]


@pytest.mark.parametrize(
    ("expr", "position"),
    [
        ("BusinessPartner gte '1'", 16),  # what pyodata renders for __range
        ("BusinessPartner eq '1' and", 26),
        ("(BusinessPartner eq '1'", 23),
        ("BusinessPartner eq '1')", 22),
        ("BusinessPartner eq 'unterminated", 19),
        ("BusinessPartner eq X'00'", 19),
        ("LastChangeTime eq time'10:00:00'", 18),  # S/4 wants PT10H00M00S
        ("LastChangeDate eq datetime'2026-11-23'", 18),
        ("BusinessPartnerUUID eq guid'xyz'", 23),
        ("BusinessPartner EQ '1'", 16),
    ],
)
def test_syntax_errors_name_the_position(expr: str, position: int) -> None:
    error = error_of(parse_filter, expr, BP)
    assert error.status == 400
    assert error.message == f"Invalid token detected at position {position}"
    assert error.to_json()["error"]["message"]["lang"] == "en"


def test_an_unknown_property_is_a_400_naming_it() -> None:
    error = error_of(parse_filter, "Foo eq 'x'", BP)
    assert error.status == 400
    assert error.message == "Property 'Foo' not found in type 'A_BusinessPartnerType'"


@pytest.mark.parametrize(
    "expr",
    [
        "BusinessPartner eq 1",  # string against number
        "NetAmount eq '12'",
        "BusinessPartnerIsBlocked gt true",
        "substringof(1, FirstName)",
        "startswith(FirstName)",
        "unknownfunction(FirstName) eq 1",
        "to_Customer/Customer eq '1'",
        "not FirstName eq 'Ann'",  # not binds tighter than eq: (not FirstName) is not boolean
        "BusinessPartner add 1 eq 2",  # arithmetic is not supported
        "FirstName",  # not a boolean
        "",
    ],
)
def test_type_errors_and_unsupported_expressions_are_a_400(expr: str) -> None:
    entity_set = ITEM if "NetAmount" in expr else BP
    assert error_of(parse_filter, expr, entity_set).status == 400


def test_a_compiled_filter_scans_100k_records_quickly() -> None:
    records = [
        partner(f"{i:07d}", FirstName=f"N{i % 100}", LastChangeDate=datetime(2026, 1, 1))
        for i in range(100_000)
    ]
    predicate = parse_filter(
        "startswith(FirstName, 'N1') and LastChangeDate ge datetime'2026-01-01T00:00:00'", BP
    )
    started = clock.perf_counter()
    hits = sum(1 for r in records if predicate(r))
    assert hits == 11_000
    assert clock.perf_counter() - started < 2.0


# -------------------------------------------------------------------------------------- pyodata filters


@pytest.fixture(scope="module")
def offline_client() -> pyodata.Client:
    url = "https://sap.invalid/sap/opu/odata/sap/API_BUSINESS_PARTNER/"
    return pyodata.Client(url, requests.Session(), metadata=metadata_xml("API_BUSINESS_PARTNER"))


def rendered(client: pyodata.Client, *args: object, **kwargs: object) -> str:
    request = client.entity_sets.A_BusinessPartner.get_entities()
    return request.filter(*args, **kwargs)._filter


def test_pyodata_keyword_filters_are_understood(offline_client) -> None:
    since = datetime(2026, 11, 21, tzinfo=UTC)
    expr = rendered(offline_client, LastChangeDate__gte=since, BusinessPartnerFullName__contains="O'Neil")
    assert expr == (
        "LastChangeDate ge datetime'2026-11-21T00:00:00' and "
        "substringof('O''Neil', BusinessPartnerFullName) eq true"
    )
    assert matching(expr) == []
    assert matching(rendered(offline_client, LastChangeDate__gte=since)) == ["1000002"]
    assert matching(rendered(offline_client, BusinessPartner__startswith="100", FirstName__endswith="b")) == [
        "1000002"
    ]
    assert matching(rendered(offline_client, BusinessPartner__in=["1000001", "1000003"])) == [
        "1000001",
        "1000003",
    ]
    assert matching(rendered(offline_client, FirstName__length=3, BusinessPartnerIsBlocked=True)) == [
        "1000002"
    ]


def test_pyodata_operator_filters_are_understood(offline_client) -> None:
    request = offline_client.entity_sets.A_BusinessPartner.get_entities()
    expr = GetEntitySetFilter.or_(
        request.LastChangeDate >= datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC),
        GetEntitySetFilter.and_(
            request.BusinessPartnerIsBlocked == False,  # noqa: E712 - pyodata's operator API
            request.BusinessPartnerUUID == "a3bb189e-8bf9-3888-9912-ace4e6543002",
        ),
    )
    assert "datetime'2026-11-22T10:00:00.123456'" in expr and "guid'a3bb189e" in expr
    assert matching(expr) == ["1000001", "1000002"]


def test_pyodata_datetimeoffset_filters_are_understood(offline_client) -> None:
    request = offline_client.entity_sets.A_BusinessPartnerAddress.get_entities()
    expr = request.filter(
        ValidityEndDate__gt=datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    )._filter
    assert expr == "ValidityEndDate gt datetimeoffset'2026-01-01T01:00:00+01:00'"
    records = [
        {"BusinessPartner": "1", "AddressID": "1", "ValidityEndDate": datetime(9999, 12, 31, tzinfo=UTC)},
        {"BusinessPartner": "2", "AddressID": "1", "ValidityEndDate": datetime(2026, 1, 1, tzinfo=UTC)},
    ]
    assert matching(expr, records, ADDRESS) == ["1"]


def test_pyodata_range_filters_are_rejected_as_sap_does(offline_client) -> None:
    expr = rendered(offline_client, BusinessPartner__range=("1000001", "1000002"))
    assert "gte" in expr
    assert error_of(parse_filter, expr, BP).status == 400


# --------------------------------------------------------------------------------- $orderby / $select


def test_orderby_is_parsed_with_directions() -> None:
    assert parse_orderby("LastChangeDate desc,BusinessPartner, FirstName asc", BP) == [
        ("LastChangeDate", True),
        ("BusinessPartner", False),
        ("FirstName", False),
    ]


@pytest.mark.parametrize("expr", ["Foo", "FirstName up", "FirstName asc desc", "", "to_Customer/Customer"])
def test_invalid_orderby_is_a_400(expr: str) -> None:
    assert error_of(parse_orderby, expr, BP).status == 400


def test_records_sort_with_nulls_first_ascending_and_last_descending() -> None:
    ascending = sort_records(PARTNERS, parse_orderby("FirstName", BP))
    assert [r["BusinessPartner"] for r in ascending] == ["1000003", "1000001", "1000002"]
    descending = sort_records(PARTNERS, parse_orderby("FirstName desc", BP))
    assert [r["BusinessPartner"] for r in descending] == ["1000002", "1000001", "1000003"]


def test_records_sort_by_several_keys() -> None:
    records = [
        {"BusinessPartner": "3", "BusinessPartnerIsBlocked": False},
        {"BusinessPartner": "1", "BusinessPartnerIsBlocked": True},
        {"BusinessPartner": "2", "BusinessPartnerIsBlocked": False},
    ]
    ordered = sort_records(records, [("BusinessPartnerIsBlocked", True), ("BusinessPartner", False)])
    assert [r["BusinessPartner"] for r in ordered] == ["1", "2", "3"]
    assert [r["BusinessPartner"] for r in records] == ["3", "1", "2"]  # input untouched


def test_select_splits_own_and_navigation_properties() -> None:
    own, navs = parse_select(
        "BusinessPartner, FirstName,to_BusinessPartnerAddress/CityName,to_BusinessPartnerAddress/Country,"
        "to_BusinessPartnerAddress/to_EmailAddress,to_Customer/*,FirstName",
        BP,
    )
    assert own == ["BusinessPartner", "FirstName"]
    assert navs == {
        "to_BusinessPartnerAddress": ["CityName", "Country"],
        "to_BusinessPartnerAddress/to_EmailAddress": [],
        "to_Customer": [],
    }


def test_select_star_selects_every_own_property() -> None:
    own, navs = parse_select("*", ORDER)
    assert own == list(ORDER.properties) and navs == {}


@pytest.mark.parametrize(
    "expr", ["Foo", "to_Foo/Bar", "to_Customer/Foo", "FirstName,,LastName", "FirstName/Foo"]
)
def test_invalid_select_is_a_400(expr: str) -> None:
    assert error_of(parse_select, expr, BP).status == 400


def test_expand_resolves_navigation_paths() -> None:
    paths = parse_expand("to_BusinessPartnerAddress/to_EmailAddress,to_BusinessPartnerRole", BP)
    assert [[(n.name, n.target_set, n.many) for n in path] for path in paths] == [
        [
            ("to_BusinessPartnerAddress", "A_BusinessPartnerAddress", True),
            ("to_EmailAddress", "A_AddressEmailAddress", True),
        ],
        [("to_BusinessPartnerRole", "A_BusinessPartnerRole", True)],
    ]
    assert [n.name for n in parse_expand("to_SalesOrder", ITEM)[0]] == ["to_SalesOrder"]


@pytest.mark.parametrize(
    "expr", ["to_Supplier", "FirstName", "to_BusinessPartnerAddress/to_Foo", "", "to_Customer,"]
)
def test_invalid_expand_is_a_400(expr: str) -> None:
    assert error_of(parse_expand, expr, BP).status == 400


# ------------------------------------------------------------------------ through pyodata over HTTPS

SERVICE = "API_BUSINESS_PARTNER"
STORED = [
    partner(
        "1000001",
        BusinessPartnerFullName="O'Neil Trading",
        LastChangeDate=datetime(2026, 11, 20),
        LastChangeTime=time(9, 30, 15),
        BusinessPartnerIsBlocked=False,
        BusinessPartnerUUID="a3bb189e-8bf9-3888-9912-ace4e6543002",
    ),
    partner("1000002", BusinessPartnerFullName="Acme GmbH", LastChangeDate=datetime(2026, 11, 23)),
]
ADDRESSES = [
    {
        "BusinessPartner": "1000001",
        "AddressID": "7",
        "CityName": "Walldorf",
        "ValidityEndDate": datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    }
]


def entity_set_route(request: Request) -> Response:
    """A minimal stand-in for the SAP server: just enough to drive the codec and the query options."""
    entity_set = {"A_BusinessPartner": BP, "A_BusinessPartnerAddress": ADDRESS}[request.path_params["set"]]
    records = STORED if entity_set is BP else ADDRESSES
    base = str(request.base_url) + SERVICE_ROOT.lstrip("/") + SERVICE + "/"
    try:
        params = request.query_params
        if "$filter" in params:
            predicate = parse_filter(params["$filter"], entity_set)
            records = [r for r in records if predicate(r)]
        if "$orderby" in params:
            records = sort_records(records, parse_orderby(params["$orderby"], entity_set))
        select = parse_select(params["$select"], entity_set)[0] if "$select" in params else None
    except ODataError as error:
        error.service = SERVICE
        return JSONResponse(error.to_json(), status_code=error.status)
    results = [encode_entity(entity_set, r, base, select) for r in records]
    return JSONResponse({"d": {"results": results}})


def metadata_route(request: Request) -> Response:
    return Response(metadata_xml(SERVICE), media_type="application/xml")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def client(tls: TlsFiles) -> Iterator[pyodata.Client]:
    root = SERVICE_ROOT + SERVICE + "/"
    app = Starlette(
        routes=[Route(root + "$metadata", metadata_route), Route(root + "{set}", entity_set_route)]
    )
    handle: ServerHandle = serve(app, tls=tls)
    session = requests.Session()
    session.verify = str(tls.ca_cert)
    session.trust_env = False  # else requests lets REQUESTS_CA_BUNDLE override session.verify
    yield pyodata.Client(handle.url + root, session)
    session.close()  # idle keep-alive connections would hold up the server's shutdown
    handle.stop()


def test_pyodata_reads_encoded_values_back_as_the_stored_ones(client) -> None:
    entities = client.entity_sets.A_BusinessPartner.get_entities().filter(BusinessPartner="1000001").execute()
    assert len(entities) == 1
    bp = entities[0]
    assert bp.BusinessPartnerFullName == "O'Neil Trading"
    assert bp.LastChangeDate == datetime(2026, 11, 20, tzinfo=UTC)
    assert bp.BusinessPartnerIsBlocked is False
    assert bp.BusinessPartnerUUID == "a3bb189e-8bf9-3888-9912-ace4e6543002"
    assert bp.LastChangeTime == "PT09H30M15S"  # pyodata leaves Edm.Time as the wire string


def test_pyodata_reads_datetimeoffset_values(client) -> None:
    address = client.entity_sets.A_BusinessPartnerAddress.get_entities().execute()[0]
    assert address.ValidityEndDate == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_pyodata_filters_and_orders_through_the_wire(client) -> None:
    request = client.entity_sets.A_BusinessPartner.get_entities()
    since = datetime(2026, 11, 21, tzinfo=UTC)
    newer = request.filter(LastChangeDate__gte=since).select("BusinessPartner,LastChangeDate").execute()
    assert [e.BusinessPartner for e in newer] == ["1000002"]
    ordered = client.entity_sets.A_BusinessPartner.get_entities().order_by("LastChangeDate desc").execute()
    assert [e.BusinessPartner for e in ordered] == ["1000002", "1000001"]


def test_pyodata_sees_sap_errors_for_bad_filters(client) -> None:
    request = client.entity_sets.A_BusinessPartner.get_entities().filter("Foo eq 'x'")
    try:
        request.execute()
    except HttpError as error:
        # read what we need and let the response go: it holds the connection open
        status, body = error.response.status_code, error.response.json()["error"]
    else:
        pytest.fail("a filter on an unknown property must fail")
    assert status == 400
    assert body["message"]["value"] == "Property 'Foo' not found in type 'A_BusinessPartnerType'"
    assert body["innererror"]["application"]["service_id"] == SERVICE


def test_initial_values_are_abap_ones_and_null_only_for_dates_and_times() -> None:
    assert initial_value(prop(BP, "SearchTerm1")) == ""
    assert initial_value(prop(BP, "BusinessPartnerIsBlocked")) is False
    assert str(initial_value(prop(ORDER, "TotalNetAmount"))) == "0.000"
    assert encode_value(prop(PRODUCT, "GrossWeight"), initial_value(prop(PRODUCT, "GrossWeight"))) == "0.000"
    assert [initial_value(prop(BP, n)) for n in ("BirthDate", "LastChangeTime")] == [None, None]
    assert initial_value(prop(PRODUCT, "LastChangeDateTime")) is None

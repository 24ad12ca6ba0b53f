"""The sandbox's SOQL engine: parsing, validation errors and evaluation against in-memory records.

Long (about 670 lines) because it is the specification of one query language: each section a family of
parametrised cases over the same in-memory records.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from sandbox.salesforce.schema import load_schema, make_id
from sandbox.salesforce.soql import Query, SoqlError, parse
from sandbox.salesforce.soql_eval import execute

SCHEMA = load_schema()
BASE = "/services/data/v62.0"
NOW = datetime(2026, 11, 23, 15, 4, 5, tzinfo=UTC)


def account(n: int, **fields: object) -> dict:
    record = {
        "Id": make_id("001", n),
        "IsDeleted": False,
        "Name": f"Account {n}",
        "OwnerId": make_id("005", 1),
    }
    record.update(fields)
    return record


def contact(n: int, **fields: object) -> dict:
    record = {"Id": make_id("003", n), "IsDeleted": False, "LastName": f"Last {n}", "AccountId": None}
    record.update(fields)
    return record


ACCOUNTS = [
    account(
        1,
        Name="Acme",
        AnnualRevenue=1000.0,
        NumberOfEmployees=10,
        Industry="Banking",
        CreatedDate="2026-11-23T08:00:00.000+0000",
        LastActivityDate="2026-11-23",
    ),
    account(
        2,
        Name="beta GmbH",
        AnnualRevenue=2500.5,
        NumberOfEmployees=50,
        Industry="Energy",
        CreatedDate="2026-11-22T23:59:59.000+0000",
        LastActivityDate="2026-11-20",
    ),
    account(
        3,
        Name="Gamma 50% off",
        AnnualRevenue=None,
        NumberOfEmployees=None,
        Industry=None,
        CreatedDate="2026-10-01T00:00:00.000+0000",
        LastActivityDate=None,
    ),
    account(
        4,
        Name="delta_co",
        AnnualRevenue=0,
        NumberOfEmployees=5,
        Industry="banking",
        CreatedDate="2025-01-01T12:00:00.000+0000",
        LastActivityDate="2025-01-01",
    ),
]
BY_ID = {a["Id"]: a for a in ACCOUNTS}


def resolve(object_name: str, record_id: str) -> dict | None:
    return BY_ID.get(record_id) if object_name == "Account" else None


def run(soql: str, rows: list[dict] | None = None) -> list[dict]:
    return execute(parse(soql, SCHEMA), ACCOUNTS if rows is None else rows, resolve, now=NOW)


def names(soql: str, rows: list[dict] | None = None) -> list[str]:
    return [r["Name"] for r in run(soql, rows)]


def error(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        parse(soql, SCHEMA)
    return info.value


# --- parsing, case and shape -----------------------------------------------------------------


def test_parse_reports_object_count_limit_and_offset() -> None:
    query = parse("SELECT COUNT() FROM account LIMIT 5 OFFSET 2", SCHEMA)
    assert isinstance(query, Query)
    assert (query.object_name, query.count_only, query.limit, query.offset) == ("Account", True, 5, 2)


def test_keywords_and_names_are_case_insensitive_and_echoed_in_schema_case() -> None:
    rows = run("select id, NAME, annualrevenue from ACCOUNT where name = 'ACME' order BY name asc")
    assert rows == [
        {
            "attributes": {"type": "Account", "url": f"{BASE}/sobjects/Account/{make_id('001', 1)}"},
            "Id": make_id("001", 1),
            "Name": "Acme",
            "AnnualRevenue": 1000.0,
        }
    ]


def test_records_hold_only_selected_fields_in_select_order() -> None:
    rows = run("SELECT Industry, Name FROM Account WHERE Name = 'Acme'")
    assert list(rows[0]) == ["attributes", "Industry", "Name"]


def test_base_url_is_used_for_attribute_urls() -> None:
    rows = execute(parse("SELECT Id FROM Account LIMIT 1", SCHEMA), ACCOUNTS, resolve, base_url="/x")
    assert rows[0]["attributes"]["url"] == f"/x/sobjects/Account/{make_id('001', 1)}"


def test_object_name_prefix_on_own_fields_is_accepted() -> None:
    assert names("SELECT Account.Name FROM Account WHERE Account.Name = 'Acme'") == ["Acme"]


# --- comparison operators --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("AnnualRevenue = 1000", ["Acme"]),
        ("AnnualRevenue != 1000", ["beta GmbH", "Gamma 50% off", "delta_co"]),
        ("AnnualRevenue <> 1000", ["beta GmbH", "Gamma 50% off", "delta_co"]),
        ("AnnualRevenue < 1000", ["delta_co"]),
        ("AnnualRevenue <= 1000", ["Acme", "delta_co"]),
        ("AnnualRevenue > 1000", ["beta GmbH"]),
        ("AnnualRevenue >= 1000.0", ["Acme", "beta GmbH"]),
        ("AnnualRevenue > -1", ["Acme", "beta GmbH", "delta_co"]),
        ("NumberOfEmployees = 50", ["beta GmbH"]),
        ("NumberOfEmployees > 7.5", ["Acme", "beta GmbH"]),
    ],
)
def test_number_comparisons(where: str, expected: list[str]) -> None:
    assert names(f"SELECT Name FROM Account WHERE {where}") == expected


def test_string_equality_is_case_insensitive() -> None:
    assert names("SELECT Name FROM Account WHERE Name = 'BETA gmbh'") == ["beta GmbH"]
    assert names("SELECT Name FROM Account WHERE Industry = 'BANKING'") == ["Acme", "delta_co"]


def test_not_equal_keeps_records_whose_field_is_null() -> None:
    assert names("SELECT Name FROM Account WHERE Industry != 'Banking'") == ["beta GmbH", "Gamma 50% off"]


def test_string_ordering_comparisons_fold_case() -> None:
    assert names("SELECT Name FROM Account WHERE Name < 'C'") == ["Acme", "beta GmbH"]
    assert names("SELECT Name FROM Account WHERE Name >= 'd'") == ["Gamma 50% off", "delta_co"]


def test_null_comparisons() -> None:
    assert names("SELECT Name FROM Account WHERE Industry = null") == ["Gamma 50% off"]
    assert names("SELECT Name FROM Account WHERE AnnualRevenue != NULL") == ["Acme", "beta GmbH", "delta_co"]


def test_null_never_satisfies_an_ordering_comparison() -> None:
    assert "Gamma 50% off" not in names("SELECT Name FROM Account WHERE AnnualRevenue < 5000")


def test_boolean_literals() -> None:
    rows = [account(1, IsDeleted=True), account(2), account(3, Name="x")]
    matched = run("SELECT Id FROM Account WHERE IsDeleted = TRUE", rows)
    assert [r["Id"] for r in matched] == [make_id("001", 1)]
    assert len(run("SELECT Id FROM Account WHERE IsDeleted = false", rows)) == 2


def test_fifteen_character_id_literal_matches_the_stored_eighteen_character_id() -> None:
    assert names(f"SELECT Name FROM Account WHERE Id = '{make_id('001', 2)[:15]}'") == ["beta GmbH"]
    assert names(f"SELECT Name FROM Account WHERE Id IN ('{make_id('001', 4)}')") == ["delta_co"]


# --- LIKE, IN, NOT ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("'a%'", ["Acme"]),
        ("'%GMBH'", ["beta GmbH"]),
        ("'%e%'", ["Acme", "beta GmbH", "delta_co"]),
        ("'_cme'", ["Acme"]),
        ("'acm'", []),
        (r"'%50\% off'", ["Gamma 50% off"]),
        (r"'delta\_co'", ["delta_co"]),
        (r"'delta\_%'", ["delta_co"]),
    ],
)
def test_like_wildcards_and_escapes(pattern: str, expected: list[str]) -> None:
    assert names(f"SELECT Name FROM Account WHERE Name LIKE {pattern}") == expected


def test_escaped_underscore_is_not_a_wildcard() -> None:
    rows = [account(1, Name="deltaXco"), account(2, Name="delta_co")]
    assert names(r"SELECT Name FROM Account WHERE Name LIKE 'delta\_co'", rows) == ["delta_co"]


def test_in_and_not_in() -> None:
    assert names("SELECT Name FROM Account WHERE Industry IN ('energy', 'Banking')") == [
        "Acme",
        "beta GmbH",
        "delta_co",
    ]
    assert names("SELECT Name FROM Account WHERE Industry NOT IN ('Banking')") == [
        "beta GmbH",
        "Gamma 50% off",
    ]


def test_in_list_may_contain_null() -> None:
    assert names("SELECT Name FROM Account WHERE Industry IN ('Energy', null)") == [
        "beta GmbH",
        "Gamma 50% off",
    ]


def test_not_negates_a_condition() -> None:
    assert names("SELECT Name FROM Account WHERE NOT Name LIKE '%e%'") == ["Gamma 50% off"]
    assert names("SELECT Name FROM Account WHERE NOT (AnnualRevenue > 100)") == ["Gamma 50% off", "delta_co"]


def test_parentheses_decide_how_and_or_group() -> None:
    left = (
        "SELECT Name FROM Account WHERE "
        "(Industry = 'Banking' OR Industry = 'Energy') AND NumberOfEmployees > 8"
    )
    right = (
        "SELECT Name FROM Account WHERE "
        "Industry = 'Banking' OR (Industry = 'Energy' AND NumberOfEmployees > 60)"
    )
    assert names(left) == ["Acme", "beta GmbH"]
    assert names(right) == ["Acme", "delta_co"]


def test_long_and_or_chains_without_mixing_need_no_parentheses() -> None:
    assert names("SELECT Name FROM Account WHERE Name = 'Acme' OR Name = 'delta_co' OR Name = 'x'") == [
        "Acme",
        "delta_co",
    ]
    assert names(
        "SELECT Name FROM Account WHERE AnnualRevenue > 1 AND AnnualRevenue < 2000 AND Industry = 'banking'"
    ) == ["Acme"]


def test_not_inside_parentheses_combines_with_and() -> None:
    assert names("SELECT Name FROM Account WHERE Industry != null AND (NOT Industry = 'energy')") == [
        "Acme",
        "delta_co",
    ]


# --- string literals and injection -----------------------------------------------------------


def test_string_escapes_are_decoded() -> None:
    rows = [account(1, Name='it\'s \\ a\ttab\nnew "q"'), account(2)]
    soql = "SELECT Name FROM Account WHERE Name = 'it\\'s \\\\ a\\ttab\\nnew \\\"q\\\"'"
    assert names(soql, rows) == ['it\'s \\ a\ttab\nnew "q"']


def test_quoted_user_value_is_matched_literally() -> None:
    hostile = "x' OR Name != '"
    escaped = hostile.replace("\\", "\\\\").replace("'", "\\'")
    rows = [account(1, Name=hostile), account(2, Name="innocent")]
    assert names(f"SELECT Name FROM Account WHERE Name = '{escaped}'", rows) == [hostile]


def test_illegal_escape_sequence_is_malformed() -> None:
    assert error(r"SELECT Id FROM Account WHERE Name = 'a\qb'").code == "MALFORMED_QUERY"


# --- dates and datetimes ---------------------------------------------------------------------


def test_date_field_compares_with_date_literal() -> None:
    assert names("SELECT Name FROM Account WHERE LastActivityDate >= 2026-11-20") == ["Acme", "beta GmbH"]
    assert names("SELECT Name FROM Account WHERE LastActivityDate = 2025-01-01") == ["delta_co"]


def test_datetime_literal_with_offset_compares_in_utc() -> None:
    # 2026-11-23T09:00:00+01:00 is 08:00 UTC, Acme's exact CreatedDate.
    assert names("SELECT Name FROM Account WHERE CreatedDate = 2026-11-23T09:00:00+01:00") == ["Acme"]
    assert names("SELECT Name FROM Account WHERE CreatedDate > 2026-11-22T23:59:58Z") == ["Acme", "beta GmbH"]
    assert names("SELECT Name FROM Account WHERE CreatedDate < 2026-11-23T00:00:00.000+0000") == [
        "beta GmbH",
        "Gamma 50% off",
        "delta_co",
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate = TODAY", ["Acme"]),
        ("CreatedDate = YESTERDAY", ["beta GmbH"]),
        ("CreatedDate < TODAY", ["beta GmbH", "Gamma 50% off", "delta_co"]),
        ("CreatedDate > YESTERDAY", ["Acme"]),
        ("CreatedDate >= YESTERDAY", ["Acme", "beta GmbH"]),
        ("CreatedDate <= YESTERDAY", ["beta GmbH", "Gamma 50% off", "delta_co"]),
        ("CreatedDate != TODAY", ["beta GmbH", "Gamma 50% off", "delta_co"]),
        ("CreatedDate = TOMORROW", []),
        ("CreatedDate = LAST_N_DAYS:1", ["Acme", "beta GmbH"]),
        ("CreatedDate = LAST_N_DAYS:60", ["Acme", "beta GmbH", "Gamma 50% off"]),
        ("CreatedDate = NEXT_N_DAYS:5", []),
        ("CreatedDate = THIS_YEAR", ["Acme", "beta GmbH", "Gamma 50% off"]),
        ("LastActivityDate = TODAY", ["Acme"]),
        ("LastActivityDate = LAST_N_DAYS:3", ["Acme", "beta GmbH"]),
        ("LastActivityDate < LAST_N_DAYS:3", ["delta_co"]),
        ("LastActivityDate IN (TODAY, LAST_YEAR)", ["Acme", "delta_co"]),
    ],
)
def test_relative_date_literals_cover_whole_utc_days(where: str, expected: list[str]) -> None:
    assert names(f"SELECT Name FROM Account WHERE {where}") == expected


def test_relative_date_literals_use_the_current_day_by_default() -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    rows = [
        account(1, CreatedDate=f"{today}T00:00:00.000+0000"),
        account(2, CreatedDate="2001-01-01T00:00:00.000+0000"),
    ]
    query = parse("SELECT Id FROM Account WHERE CreatedDate = TODAY", SCHEMA)
    assert [r["Id"] for r in execute(query, rows, resolve)] == [make_id("001", 1)]


# --- relationships ---------------------------------------------------------------------------

CONTACTS = [
    contact(1, AccountId=make_id("001", 2), Email="one@example.com"),
    contact(2, AccountId=None),
    contact(3, AccountId=make_id("001", 1)),
    contact(4, AccountId=make_id("001", 9)),  # points at a record the store no longer has
]


def test_parent_fields_are_nested_objects_with_their_own_attributes() -> None:
    rows = execute(
        parse("SELECT LastName, Account.Name, Account.Industry FROM Contact LIMIT 1", SCHEMA),
        CONTACTS,
        resolve,
    )
    assert rows[0] == {
        "attributes": {"type": "Contact", "url": f"{BASE}/sobjects/Contact/{make_id('003', 1)}"},
        "LastName": "Last 1",
        "Account": {
            "attributes": {"type": "Account", "url": f"{BASE}/sobjects/Account/{make_id('001', 2)}"},
            "Name": "beta GmbH",
            "Industry": "Energy",
        },
    }


def test_empty_or_dangling_lookup_renders_as_null() -> None:
    rows = execute(parse("SELECT Id, Account.Name FROM Contact", SCHEMA), CONTACTS, resolve)
    assert [r["Account"] for r in rows][1:] == [None, rows[2]["Account"], None]
    assert rows[2]["Account"]["Name"] == "Acme"


def test_relationship_in_where_and_order_by() -> None:
    query = parse(
        "SELECT LastName FROM Contact WHERE Account.Name LIKE '%a%' ORDER BY Account.Name DESC", SCHEMA
    )
    assert [r["LastName"] for r in execute(query, CONTACTS, resolve)] == ["Last 1", "Last 3"]


def test_two_level_relationship_path() -> None:
    parent = account(7, Name="Parent Co")
    child = account(8, Name="Child", ParentId=parent["Id"])
    records = {parent["Id"]: parent, child["Id"]: child}
    rows = execute(
        parse("SELECT Id, Account.Parent.Name FROM Contact WHERE Account.Parent.Name = 'parent co'", SCHEMA),
        [contact(1, AccountId=child["Id"]), contact(2, AccountId=parent["Id"])],
        lambda obj, rid: records.get(rid),
    )
    assert len(rows) == 1
    assert rows[0]["Account"]["Parent"]["Name"] == "Parent Co"
    assert rows[0]["Account"]["Parent"]["attributes"]["type"] == "Account"


def test_lookup_to_an_unstored_object_still_answers_its_id() -> None:
    rows = run("SELECT Owner.Id FROM Account WHERE Owner.Id != null LIMIT 1")
    assert rows[0]["Owner"] == {
        "attributes": {"type": "User", "url": f"{BASE}/sobjects/User/{make_id('005', 1)}"},
        "Id": make_id("005", 1),
    }


def test_polymorphic_lookup_type_follows_the_key_prefix() -> None:
    orders = [{"Id": make_id("801", 1), "IsDeleted": False, "OwnerId": make_id("00G", 1)}]
    rows = execute(parse("SELECT Owner.Id FROM Order", SCHEMA), orders, lambda o, i: None)
    assert rows[0]["Owner"]["attributes"]["type"] == "Group"


# --- ordering, limit, offset, count ----------------------------------------------------------


def test_order_by_ascending_puts_nulls_first_by_default() -> None:
    assert names("SELECT Name FROM Account ORDER BY AnnualRevenue") == [
        "Gamma 50% off",
        "delta_co",
        "Acme",
        "beta GmbH",
    ]


def test_order_by_descending_puts_nulls_last_by_default() -> None:
    assert names("SELECT Name FROM Account ORDER BY AnnualRevenue DESC") == [
        "beta GmbH",
        "Acme",
        "delta_co",
        "Gamma 50% off",
    ]


def test_explicit_nulls_position() -> None:
    assert names("SELECT Name FROM Account ORDER BY AnnualRevenue ASC NULLS LAST")[-1] == "Gamma 50% off"
    assert names("SELECT Name FROM Account ORDER BY AnnualRevenue DESC NULLS FIRST")[0] == "Gamma 50% off"


def test_order_by_strings_ignores_case() -> None:
    assert names("SELECT Name FROM Account ORDER BY Name") == [
        "Acme",
        "beta GmbH",
        "delta_co",
        "Gamma 50% off",
    ]


def test_order_by_several_fields_with_mixed_directions() -> None:
    rows = [
        account(1, Name="b", NumberOfEmployees=1),
        account(2, Name="a", NumberOfEmployees=1),
        account(3, Name="c", NumberOfEmployees=2),
    ]
    soql = "SELECT Name FROM Account ORDER BY NumberOfEmployees DESC, Name ASC"
    assert names(soql, rows) == ["c", "a", "b"]


def test_limit_and_offset_page_after_sorting() -> None:
    assert names("SELECT Name FROM Account ORDER BY Name LIMIT 2") == ["Acme", "beta GmbH"]
    assert names("SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1") == ["beta GmbH", "delta_co"]
    assert names("SELECT Name FROM Account ORDER BY Name OFFSET 3") == ["Gamma 50% off"]
    assert names("SELECT Name FROM Account LIMIT 0") == []


def test_count_returns_one_attributes_only_record_per_match() -> None:
    rows = run("SELECT COUNT() FROM Account WHERE Industry = 'banking'")
    assert len(rows) == 2
    assert all(list(r) == ["attributes"] for r in rows)


# --- errors ----------------------------------------------------------------------------------


def test_syntax_error_names_the_unexpected_token() -> None:
    exc = error("SELECT Id FORM Account")
    assert exc.code == "MALFORMED_QUERY"
    assert exc.message == (
        "\nSELECT Id FORM Account\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FORM'"
    )


def test_truncated_query_reports_eof() -> None:
    exc = error("SELECT Id FROM Account WHERE")
    assert exc.code == "MALFORMED_QUERY"
    assert exc.message.endswith("unexpected token: '<EOF>'")


def test_mixing_and_with_or_without_parentheses_is_malformed() -> None:
    exc = error("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'")
    assert exc.code == "MALFORMED_QUERY"
    assert exc.message.endswith("unexpected token: 'OR'")


def test_unknown_object_is_invalid_type() -> None:
    exc = error("SELECT Id FROM Acount")
    assert exc.code == "INVALID_TYPE"
    assert exc.message == (
        "\nSELECT Id FROM Acount\n               ^\nERROR at Row:1:Column:16\nsObject type 'Acount' is not "
        "supported. If you are attempting to use a custom object, be sure to append the '__c' after the "
        "entity name. Please reference your WSDL or the describe call for the appropriate names."
    )


def test_unknown_select_field_is_invalid_field_with_salesforce_message() -> None:
    exc = error("SELECT Id, Nmae FROM Account")
    assert exc.code == "INVALID_FIELD"
    assert exc.message == (
        "\nSELECT Id, Nmae FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column 'Nmae' on "
        "entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after "
        "the custom field name. Please reference your WSDL or the describe call for the appropriate names."
    )


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Account WHERE Nmae = 'x'",
        "SELECT Id FROM Account ORDER BY Nmae",
        "SELECT Account.Nmae FROM Contact",
        "SELECT Id FROM Contact WHERE Account.Owner.Email = 'x'",
    ],
)
def test_unknown_field_anywhere_is_invalid_field(soql: str) -> None:
    exc = error(soql)
    assert exc.code == "INVALID_FIELD"
    assert "No such column" in exc.message


def test_unknown_relationship_is_invalid_field() -> None:
    exc = error("SELECT Acount.Name FROM Contact")
    assert exc.code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Acount' in field path." in exc.message


def test_error_position_counts_rows_and_columns() -> None:
    exc = error("SELECT Id\nFROM Account\nWHERE Nmae = 'x'")
    assert "ERROR at Row:3:Column:7\n" in exc.message
    assert exc.message.startswith("\nWHERE Nmae = 'x'\n      ^\n")


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        (
            "SELECT Id FROM Account WHERE CreatedDate = 'abc'",
            "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2026-11-23",
            "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE LastActivityDate = 2026-11-23T00:00:00Z",
            "value of filter criterion for field 'LastActivityDate' must be of type date and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE AnnualRevenue = '5'",
            "value of filter criterion for field 'AnnualRevenue' must be of type double and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE NumberOfEmployees IN (1, '2')",
            "value of filter criterion for field 'NumberOfEmployees' must be of type integer "
            "and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE IsDeleted = 'true'",
            "value of filter criterion for field 'IsDeleted' must be of type boolean and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 5",
            "value of filter criterion for field 'Name' must be of type string and should be enclosed in "
            "quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = TODAY",
            "value of filter criterion for field 'Name' must be of type string and should be enclosed in "
            "quotes",
        ),
    ],
)
def test_literal_of_the_wrong_type_is_invalid_field(soql: str, message: str) -> None:
    exc = error(soql)
    assert exc.code == "INVALID_FIELD"
    assert exc.message.endswith("\n" + message)


def test_caret_points_at_the_offending_literal() -> None:
    exc = error("SELECT Id FROM Account WHERE CreatedDate = 'abc'")
    assert "ERROR at Row:1:Column:44\n" in exc.message


def test_malformed_id_literal_is_invalid_query_filter_operator() -> None:
    exc = error("SELECT Id FROM Contact WHERE AccountId = 'abc'")
    assert exc.code == "INVALID_QUERY_FILTER_OPERATOR"
    assert exc.message.endswith("\ninvalid ID field: abc")


def test_long_text_area_cannot_be_filtered_or_sorted() -> None:
    assert error("SELECT Id FROM Account WHERE Description = 'x'").message.endswith(
        "field 'Description' can not be filtered in query call"
    )
    assert error("SELECT Id FROM Account ORDER BY Description").code == "INVALID_FIELD"


def test_offset_above_2000_is_outside_valid_range() -> None:
    exc = error("SELECT Id FROM Account LIMIT 10 OFFSET 2001")
    assert exc.code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert parse("SELECT Id FROM Account OFFSET 2000", SCHEMA).offset == 2000


def test_duplicate_select_field_is_malformed() -> None:
    assert error("SELECT Name, name FROM Account").code == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM Account",
        "SELECT Id FROM Account LIMIT 'x'",
        "SELECT Id FROM Account LIMIT -1",
        "SELECT Id FROM Account OFFSET 1 LIMIT 1",
        'SELECT Id FROM Account WHERE Name = "x"',
        "SELECT Id FROM Account WHERE Name IN ()",
        "SELECT Id FROM Account WHERE Name = 'x' AND NOT Name = 'y'",
        "SELECT COUNT(), Name FROM Account",
        "SELECT Id FROM Account WHERE Name LIKE null",
    ],
)
def test_other_syntax_errors_are_malformed(soql: str) -> None:
    assert error(soql).code == "MALFORMED_QUERY"


def test_error_body_is_the_rest_error_shape() -> None:
    exc = error("SELECT Id FROM Acount")
    assert exc.body() == [{"message": exc.message, "errorCode": "INVALID_TYPE"}]


# --- performance -----------------------------------------------------------------------------


def test_filter_and_sort_of_100k_rows_is_fast() -> None:
    rows = [
        account(
            i,
            Name=f"Name {i % 997}",
            AnnualRevenue=float(i % 1000) if i % 7 else None,
            Industry=("Banking", "Energy", None)[i % 3],
            SystemModstamp=f"2026-11-{1 + i % 28:02d}T10:00:00.000+0000",
        )
        for i in range(100_000)
    ]
    query = parse(
        "SELECT Id, Name, AnnualRevenue FROM Account WHERE (Industry = 'banking' OR AnnualRevenue > 500) "
        "AND SystemModstamp >= 2026-11-10T00:00:00Z AND Name LIKE 'name 1%' "
        "ORDER BY AnnualRevenue DESC NULLS LAST, Name",
        SCHEMA,
    )
    start = time.perf_counter()
    result = execute(query, rows, resolve)
    elapsed = time.perf_counter() - start
    print(f"\n100,000 rows filtered and sorted into {len(result)} records in {elapsed:.3f}s")
    assert result and elapsed < 5.0
    revenues = [r["AnnualRevenue"] for r in result]
    non_null = [r for r in revenues if r is not None]
    assert non_null == sorted(non_null, reverse=True)
    start = time.perf_counter()
    everything = execute(parse("SELECT Id FROM Account ORDER BY SystemModstamp, Id", SCHEMA), rows, resolve)
    print(f"100,000 rows sorted and shaped in {time.perf_counter() - start:.3f}s")
    assert len(everything) == 100_000

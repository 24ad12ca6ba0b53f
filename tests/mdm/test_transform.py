"""The named transforms, on the messy values sandbox/seed/ puts into the CRM and the ERP."""

from __future__ import annotations

import pytest

from mdm.transform import (
    REGISTRY,
    Context,
    TransformConfigError,
    TransformError,
    ValueMap,
    compile_step,
)

MAPS = {
    "country": ValueMap("country", {"Deutschland": "DE", "GER": "DE", "D": "DE", "UK": "GB", "USA": "US",
                                    "England": "GB", "Holland": "NL", "Österreich": "AT", "Suisse": "CH",
                                    "España": "ES", "Espana": "ES", "Italia": "IT"}),
    "region": ValueMap("region", {"CH:Genf": "CH-GE"}),
    "region_codes": ValueMap("region_codes", {"AT-9": "AT-09", "ES-M": "ES-28", "ES-B": "ES-08"}),
    "industry": ValueMap("industry", {"MACH": "Machinery", "RETA": "Retail"}),
    "language": ValueMap("language", {"DE": "DE", "FR": "FR"}),
}  # fmt: skip


def run(spec: str | dict, value: object, country: str | None = None) -> object:
    """Apply one transform the way a mapping configures it."""
    return compile_step(spec, MAPS)(value, Context(country=country, value_maps=MAPS))


# --- text ---------------------------------------------------------------------------------------------


def test_trim_and_collapse_spaces_clean_double_spaces_and_line_breaks() -> None:
    assert run("trim", "  Müller GmbH ") == "Müller GmbH"
    assert run("collapse_spaces", "Müller  Maschinenbau\nGmbH ") == "Müller Maschinenbau GmbH"


def test_case_transforms() -> None:
    assert run("upper", "de123") == "DE123"
    assert run("lower", "INFO@ACME.DE") == "info@acme.de"
    assert run("title", "RUE DE LA PAIX") == "Rue de la Paix"
    assert run("title", "SAINT-JEAN-DE-LUZ") == "Saint-Jean-de-Luz"


def test_fix_case_only_touches_text_typed_in_one_case() -> None:
    assert run("fix_case", "FRANKFURT AM MAIN") == "Frankfurt am Main"
    assert run("fix_case", "rue de Martin") == "Rue de Martin"
    assert run("fix_case", "McAllen") == "McAllen"


def test_an_empty_result_becomes_none() -> None:
    assert run("trim", "   ") is None


def test_a_missing_value_stays_missing_except_for_default() -> None:
    assert run("phone_e164", None, "DE") is None
    assert run({"default": "DE"}, None) == "DE"
    assert run({"default": "DE"}, "AT") == "AT"


def test_first_line_drops_a_second_address_line() -> None:
    assert run("first_line", "28 Mcclain St\nSuite 219") == "28 Mcclain St"
    assert run("first_line", "Beckerstraße 196\nGebäude B") == "Beckerstraße 196"


def test_truncate_and_split_to_fill_sap_40_character_name_lines() -> None:
    name = "Bolander und Fliegner Gesellschaft mit beschränkter Haftung"
    line1 = run({"split_to": {"length": 40, "part": 1}}, name)
    line2 = run({"split_to": {"length": 40, "part": 2}}, name)
    assert line1 == "Bolander und Fliegner Gesellschaft mit"
    assert line2 == "beschränkter Haftung"
    assert f"{line1} {line2}" == name
    assert run({"split_to": {"length": 40, "part": 2}}, "Müller GmbH") is None
    assert run({"truncate": 9}, "Industriestraße") == "Industrie"


def test_join_skips_empty_parts() -> None:
    assert run("join", ["Müller Maschinenbau", "GmbH"]) == "Müller Maschinenbau GmbH"
    assert run("join", ["Müller Maschinenbau GmbH", ""]) == "Müller Maschinenbau GmbH"


def test_first_picks_the_first_present_item() -> None:
    assert run("first", [None, "", "DE123456789", "ATU12345678"]) == "DE123456789"
    assert run("first", []) is None


def test_transforms_map_over_list_items_unless_they_take_lists() -> None:
    assert run("upper", ["de1", "at2"]) == ["DE1", "AT2"]


def test_strip_leading_zeros_unpads_sap_numbers() -> None:
    assert run("strip_leading_zeros", "0001000123") == "1000123"
    assert run("strip_leading_zeros", "1000123") == "1000123"
    assert run("strip_leading_zeros", 1000123) == "1000123"


def test_digits_with_a_length_checks_duns_numbers() -> None:
    assert run({"digits": 9}, "12-345-6789") == "123456789"
    with pytest.raises(TransformError, match="expected 9 digits, found 8"):
        run({"digits": 9}, "12345678")


def test_value_map_translates_both_ways_and_reports_unknown_values() -> None:
    assert run({"value_map": "industry"}, "MACH") == "Machinery"
    assert run({"value_map": {"name": "industry", "reverse": True}}, "Retail") == "RETA"
    assert run({"value_map": {"name": "language", "otherwise": "EN"}}, "US") == "EN"
    assert run({"value_map": {"name": "industry", "strict": False}}, "ZZZZ") == "ZZZZ"
    with pytest.raises(TransformError, match="no entry in value map 'industry'"):
        run({"value_map": "industry"}, "ZZZZ")


# --- countries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "iso"),
    [
        ("Germany", "DE"), ("Deutschland", "DE"), ("germany", "DE"), ("GER", "DE"), ("D", "DE"), ("DE", "DE"),
        ("DEU", "DE"), ("Österreich", "AT"), ("Oesterreich", "AT"), ("Suisse", "CH"), ("Schweiz", "CH"),
        ("United Kingdom", "GB"), ("UK", "GB"), ("Great Britain", "GB"), ("England", "GB"),
        ("United States", "US"), ("USA", "US"), ("U.S.A.", "US"), ("U.S.", "US"),
        ("United States of America", "US"), ("The Netherlands", "NL"), ("Holland", "NL"),
        ("Nederland", "NL"), ("Italia", "IT"), ("España", "ES"), ("Espana", "ES"), ("France", "FR"),
    ],
)  # fmt: skip
def test_country_iso2_reads_names_in_several_languages_and_codes(typed: str, iso: str) -> None:
    aliases = MAPS["country"].entries | {
        "Oesterreich": "AT",
        "Schweiz": "CH",
        "Nederland": "NL",
        "Great Britain": "GB",
    }
    maps = {**MAPS, "country": ValueMap("country", aliases)}
    assert compile_step("country_iso2", maps)(typed, Context(value_maps=maps)) == iso


def test_country_iso2_refuses_what_is_no_country() -> None:
    with pytest.raises(TransformError, match="not a country"):
        run("country_iso2", "Atlantis")


def test_country_name_gives_the_english_name() -> None:
    assert run("country_name", "DE") == "Germany"
    assert run("country_iso2", run("country_name", "GB")) == "GB"


def test_vat_country_and_phone_country_infer_a_missing_country() -> None:
    assert run("vat_country", "DE 123 456 789") == "DE"
    assert run("vat_country", "CHE-123.456.789 MWST") == "CH"
    assert run("vat_country", "123456789") is None
    assert run("phone_country", "+49 (0)30 1234567") == "DE"
    assert run("phone_country", "030 1234567") is None


# --- phones, e-mail, web -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "country", "e164"),
    [
        ("(212) 555-0123", "US", "+12125550123"),
        ("+1-212-555-0123", "US", "+12125550123"),
        ("212.555.0123", "US", "+12125550123"),
        ("2125550123", "US", "+12125550123"),
        ("+49 30 1234567", "DE", "+49301234567"),
        ("+49301234567", "DE", "+49301234567"),
        ("0049 30 1234567", "DE", "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("030/1234567", "DE", "+49301234567"),
        ("+49 (0)30 1234567", "DE", "+49301234567"),
        ("030-1234567", "DE", "+49301234567"),
        ("+33 1 23 45 67 89", "FR", "+33123456789"),
        ("01 23 45 67 89", "FR", "+33123456789"),
        ("+33 (0)1 23 45 67 89", "FR", "+33123456789"),
        ("+39 02 1234567", "IT", "+39021234567"),
        ("+44 20 12345678", None, "+442012345678"),
    ],
)
def test_phone_e164_reads_national_and_international_formats(
    typed: str, country: str | None, e164: str
) -> None:
    assert run("phone_e164", typed, country) == e164


def test_phone_e164_reads_sap_national_number_with_its_own_country() -> None:
    assert run("phone_e164", ["030 1234567", "DE"], "US") == "+49301234567"


def test_a_national_phone_number_needs_the_record_country() -> None:
    with pytest.raises(TransformError, match="national phone number, and the record has no country"):
        run("phone_e164", "030 1234567", None)


def test_phone_national_is_what_sap_keeps_next_to_the_country() -> None:
    national = run("phone_national", "+49301234567", "DE")
    assert national == "030 1234567"
    assert run("phone_e164", national, "DE") == "+49301234567"


def test_email_lower_normalises_and_checks_the_address() -> None:
    assert run("email_lower", " Info@Mueller-Maschinenbau.DE ") == "info@mueller-maschinenbau.de"
    assert run("email_lower", "mailto:sales@acme.com") == "sales@acme.com"
    with pytest.raises(TransformError, match="not a valid e-mail address"):
        run("email_lower", "info(at)acme.com")


@pytest.mark.parametrize(
    ("typed", "domain"),
    [
        ("https://www.acme.com/path?q=1", "acme.com"),
        ("www.mueller-maschinenbau.de", "mueller-maschinenbau.de"),
        ("http://www.brooks-components.co.uk", "brooks-components.co.uk"),
        ("WWW.ACME.COM", "acme.com"),
        ("acme.com", "acme.com"),
        ("www.acme.com/", "acme.com"),
        ("https://shop.eu.acme.de:8443", "acme.de"),
    ],
)
def test_url_domain_keeps_the_registrable_domain(typed: str, domain: str) -> None:
    assert run("url_domain", typed) == domain


def test_url_domain_refuses_a_word_that_is_no_address() -> None:
    with pytest.raises(TransformError, match="not a web address"):
        run("url_domain", "n/a")


# --- company names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "core"),
    [
        ("Müller Maschinenbau GmbH", "GMBH", "Müller Maschinenbau"),
        ("Müller Maschinenbau Gmbh", "GMBH", "Müller Maschinenbau"),
        ("Müller Maschinenbau G.m.b.H.", "GMBH", "Müller Maschinenbau"),
        ("Bolander und Fliegner Gesellschaft mit beschränkter Haftung", "GMBH", "Bolander und Fliegner"),
        ("Huber Ges.m.b.H.", "GMBH", "Huber"),
        ("Stoll Logistik GmbH & Co. KG", "GMBH_CO_KG", "Stoll Logistik"),
        ("Stoll Logistik GmbH u. Co. KG", "GMBH_CO_KG", "Stoll Logistik"),
        ("Seiler Kommanditgesellschaft", "KG", "Seiler"),
        ("Textor & Binner e. K.", "EK", "Textor & Binner"),
        ("Atlas Aktiengesellschaft", "AG", "Atlas"),
        ("Davidson & Chapman, Inc.", "INC", "Davidson & Chapman"),
        ("DAVIDSON & CHAPMAN INC.", "INC", "DAVIDSON & CHAPMAN"),
        ("Hodges Incorporated", "INC", "Hodges"),
        ("Bowman L.L.C.", "LLC", "Bowman"),
        ("Apex Trading Corporation", "CORP", "Apex Trading"),
        ("Kerr Systems Ltd", "LTD", "Kerr Systems"),
        ("Kerr Systems Limited", "LTD", "Kerr Systems"),
        ("Glover & Murray plc", "PLC", "Glover & Murray"),
        ("Dupont S.A.R.L.", "SARL", "Dupont"),
        ("Dupont S.A.S.", "SAS", "Dupont"),
        ("Bieri SA", "SA", "Bieri"),
        ("de Hoogh Installatietechniek B.V", "BV", "de Hoogh Installatietechniek"),
        ("Nova Trading N.V.", "NV", "Nova Trading"),
        ("Summit Sistemi S.r.l.", "SRL", "Summit Sistemi"),
        ("Rossi S.P.A.", "SPA", "Rossi"),
        ("Atlas Tecnologías S.L", "SL", "Atlas Tecnologías"),
        ("Vertex Sys.", None, "Vertex Sys."),
        ("Austermühle", None, "Austermühle"),
    ],
)
def test_legal_form_and_strip_legal_form(name: str, code: str | None, core: str) -> None:
    assert run("legal_form", name) == code
    assert run("strip_legal_form", name) == core


# --- VAT ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "country", "vat"),
    [
        ("DE123456789", "DE", "DE123456789"),
        ("DE 123 456 789", "DE", "DE123456789"),
        ("de123456789", "DE", "DE123456789"),
        ("DE-123456789", "DE", "DE123456789"),
        ("123456789", "DE", "DE123456789"),
        ("CHE-123.456.789 MWST", "CH", "CHE123456789"),
        ("123456789", "CH", "CHE123456789"),
        ("ATU 123 456 78", "AT", "ATU12345678"),
        ("12345678", "AT", "ATU12345678"),
        ("475085857B01", "NL", "NL475085857B01"),
        ("A12345678", "ES", "ESA12345678"),
        ("12-3456789", "US", "123456789"),
        ("123456789", None, "123456789"),
    ],
)
def test_vat_normalise(typed: str, country: str | None, vat: str) -> None:
    assert run("vat_normalise", typed, country) == vat


def test_vat_normalise_refuses_stray_characters() -> None:
    with pytest.raises(TransformError, match="not a tax number"):
        run("vat_normalise", "DE123#456", "DE")


# --- addresses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "street", "house"),
    [
        ("Hauptstr. 5", "Hauptstr.", "5"),
        ("Hauptstraße 5a", "Hauptstraße", "5a"),
        ("Hauptstraße 5 a", "Hauptstraße", "5a"),
        ("5 Main St", "Main St", "5"),
        ("1200 Main St, Ste 400", "Main St", "1200"),
        ("12 rue de la Paix", "rue de la Paix", "12"),
        ("12, rue de la Paix", "rue de la Paix", "12"),
        ("Via Roma, 12", "Via Roma", "12"),
        ("C/ Mayor 5-7", "C/ Mayor", "5-7"),
        ("Straße des 17. Juni", "Straße des 17. Juni", None),
        ("Oak Road", "Oak Road", None),
    ],
)
def test_split_street(line: str, street: str, house: str | None) -> None:
    assert run({"split_street": "street"}, line) == street
    assert run({"split_street": "house_number"}, line) == house


@pytest.mark.parametrize(
    ("country", "line"),
    [("DE", "Hauptstraße 5"), ("US", "5 Main Street"), ("FR", "12 rue de la Paix"), ("IT", "Via Roma, 5")],
)
def test_join_street_follows_the_country_and_splits_back(country: str, line: str) -> None:
    street, house = run({"split_street": "street"}, line), run({"split_street": "house_number"}, line)
    assert run("join_street", [street, house], country) == line


def test_join_street_without_a_house_number_is_the_street() -> None:
    assert run("join_street", ["Hauptstraße", None], "DE") == "Hauptstraße"


@pytest.mark.parametrize(
    ("country", "typed", "expanded"),
    [
        ("DE", "Hauptstr.", "Hauptstraße"),
        ("DE", "Berliner Str.", "Berliner Straße"),
        ("DE", "Beckerstrasse", "Beckerstraße"),
        ("CH", "Kirchstr.", "Kirchstrasse"),
        ("AT", "Schulg.", "Schulgasse"),
        ("NL", "Janstr.", "Janstraat"),
        ("US", "Bishop Ave", "Bishop Avenue"),
        ("GB", "Church St.", "Church Street"),
        ("US", "St. James Street", "St. James Street"),
        ("FR", "av. Victor Hugo", "avenue Victor Hugo"),
        ("IT", "V.le Lombardo", "Viale Lombardo"),
        ("IT", "P.zza Garibaldi", "Piazza Garibaldi"),
        ("ES", "C/ Mayor", "Calle Mayor"),
        ("ES", "C/jón Vinicio", "Callejón Vinicio"),
        ("ES", "Avda. del Sol", "Avenida del Sol"),
        ("SE", "Storgatan", "Storgatan"),
    ],
)
def test_expand_street_abbrev_is_country_aware_and_conservative(
    country: str, typed: str, expanded: str
) -> None:
    assert run("expand_street_abbrev", typed, country) == expanded


@pytest.mark.parametrize(
    ("country", "typed", "postal"),
    [
        ("DE", "D-10115", "10115"),
        ("CH", "CH-8001", "8001"),
        ("GB", "SW1A1AA", "SW1A 1AA"),
        ("GB", "sw1a  1aa", "SW1A 1AA"),
        ("NL", "6297FB", "6297 FB"),
        ("US", "13947-3801", "13947-3801"),
        ("FR", " 75001 ", "75001"),
    ],
)
def test_postal_code_normalises_prefixes_and_spacing(country: str, typed: str, postal: str) -> None:
    assert run("postal_code", typed, country) == postal


@pytest.mark.parametrize(
    ("country", "typed", "code"),
    [
        ("DE", "Bayern", "BY"),
        ("DE", "BY", "BY"),
        ("US", "California", "CA"),
        ("US", "CA", "CA"),
        ("CH", "Zürich", "ZH"),
        ("CH", "Genf", "GE"),
        ("AT", "Wien", "09"),
        ("AT", "09", "09"),
        ("ES", "Madrid", "28"),
        ("ES", "Barcelona", "08"),
        ("IT", "Milano", "MI"),
    ],
)
def test_region_code_gives_sap_region_keys(country: str, typed: str, code: str) -> None:
    assert run("region_code", typed, country) == code


def test_region_name_is_the_way_back_for_the_crm() -> None:
    assert run("region_name", "09", "AT") == "Wien"
    assert run("region_code", run("region_name", "BY", "DE"), "DE") == "BY"
    assert run("region_name", "CA", "US") == "CA"


# --- configuration -----------------------------------------------------------------------------------


def test_an_unknown_transform_name_fails_at_configuration_time() -> None:
    with pytest.raises(TransformConfigError, match="unknown transform 'trimm'"):
        compile_step("trimm", MAPS)


def test_a_missing_argument_fails_at_configuration_time() -> None:
    with pytest.raises(TransformConfigError, match="transform 'truncate'.*length"):
        compile_step("truncate", MAPS)


def test_an_argument_of_the_wrong_type_fails_at_configuration_time() -> None:
    with pytest.raises(TransformConfigError, match="argument 'length' must be an integer"):
        compile_step({"truncate": "forty"}, MAPS)
    with pytest.raises(TransformConfigError, match="argument 'part' must be one of 'street', 'house_number'"):
        compile_step({"split_street": "number"}, MAPS)


def test_an_unknown_value_map_fails_at_configuration_time() -> None:
    with pytest.raises(TransformConfigError, match="value_maps has no map 'payment'"):
        compile_step({"value_map": "payment"}, MAPS)


def test_every_registered_transform_has_a_docstring_or_is_trivial() -> None:
    undocumented = [n for n, d in REGISTRY.items() if not d.fn.__doc__ and n not in ("upper", "lower")]
    assert undocumented == []

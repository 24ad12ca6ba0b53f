"""Match transforms: the comparable keys behind blocking and comparison levels."""

from __future__ import annotations

import pytest

from mdm.match.features import (
    TRANSFORMS,
    abbreviates,
    domain,
    name_core,
    name_first_token,
    postal,
    street_address,
    vat,
)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Müller Maschinenbau GmbH", "MUELLER MASCHINENBAU Gesellschaft mit beschränkter Haftung"),
        ("Schmidt & Partner GmbH u. Co. KG", "Schmidt und Partner GmbH & Co KG"),
        ("Acme Intl, Inc.", "Acme International Incorporated"),
        ("Huber Ges.m.b.H.", "Huber Gesellschaft m.b.H."),
        ("Dupont S.A.R.L.", "Dupont SARL"),
        ("Jansen B.V", "Jansen"),
        ("Maier e. K.", "Maier e.K."),
        ("Smith Mfg. LLC", "Smith Manufacturing L.L.C."),
        ("Rossi e Bianchi S.p.A.", "Rossi & Bianchi SpA"),
    ],
)
def test_name_core_ignores_legal_form_connectors_and_abbreviations(left: str, right: str) -> None:
    assert name_core([left]) == name_core([right])


def test_name_core_keeps_a_name_that_is_only_a_legal_form_word() -> None:
    assert name_core(["AG"]) == "ag"


def test_name_core_keeps_different_companies_apart() -> None:
    assert name_core(["Schmidt GmbH"]) != name_core(["Schmidt Logistik GmbH"])


def test_name_first_token_is_the_first_word_of_the_core() -> None:
    assert name_first_token(["The Müller-Group AG"]) == "the"
    assert name_first_token(["Müller Logistik GmbH"]) == "mueller"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (["Hauptstraße", "12"], ["Hauptstr. 12", None]),
        (["Hauptstrasse", "12"], ["hauptstr.", "12"]),
        (["Mozartgasse", "3"], ["Mozartg.", "3"]),
        (["Main Street", "12"], ["12 Main St.", None]),
        (["Via Roma", "5"], ["V. Roma, 5", None]),
        (["Calle Mayor", "3"], ["C/ Mayor", "3"]),
        (["Kerkstraat", "1"], ["Kerkstr.", "1"]),
        (["Rue de la Paix", "12"], ["12, RUE DE LA PAIX", None]),
    ],
)
def test_street_address_spells_street_words_one_way(left: list, right: list) -> None:
    assert street_address(left) == street_address(right)


def test_street_address_keeps_house_numbers_apart() -> None:
    assert street_address(["Hauptstraße", "12"]) != street_address(["Hauptstraße", "14"])


@pytest.mark.parametrize(
    ("written", "key"),
    [("D-12345", "12345"), ("94105-1234", "94105"), ("1234 AB", "1234AB"), ("sw1a 1aa", "SW1A1AA")],
)
def test_postal_drops_country_prefix_spaces_and_zip_plus_four(written: str, key: str) -> None:
    assert postal([written]) == key


def test_domain_reads_websites_and_email_addresses_alike() -> None:
    assert domain(["https://www.Acme.com/contact"]) == domain([None, "Info@acme.com"]) == "acme.com"


@pytest.mark.parametrize("written", ["DE123456789", "DE 123 456 789", "123456789", "de-123456789"])
def test_vat_compares_without_country_prefix_and_punctuation(written: str) -> None:
    assert vat([written]) == "123456789"


def test_vat_of_a_swiss_uid_drops_the_mwst_suffix() -> None:
    assert vat(["CHE-123.456.789 MWST"]) == vat(["CHE123456789"])


def test_vat_too_short_to_identify_is_no_value() -> None:
    assert vat(["DE 12"]) is None


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_transform_turns_missing_and_blank_into_none(name: str) -> None:
    assert TRANSFORMS[name]([None, "  "]) is None


@pytest.mark.parametrize(
    ("name", "core"),
    [
        ("Primus Systemtechnik Gmhb", "primus systemtechnik"),  # two letters swapped
        ("Lambert and Benson, Innc.", "lambert benson"),  # a letter doubled
        ("Henck & Stroh Kommannditgesellschaft", "henck stroh"),  # one added in a long form
        ("Steckel Logistik Gesallschaft mit beschränkter Haftung", "steckel logistik"),
        ("Apex Core", "apex core"),  # a substituted letter is a word, not a garbled 'Corp'
        ("Evergreen Solutions Inc. (Boston)", "evergreen solutions"),  # the place a CRM user added
        ("OmniPlast Media Ltd - Newcastle upon Tyne", "omniplast media"),
        ("Rhein - Main Logistik GmbH", "rhein main logistik"),  # a dash inside the name stays
        ("Bałtycka Nieruchomości sp. j.", "baltycka nieruchomosci"),
        ("Gebroeders van Tuijl V.O.F.", "gebroeders van tuijl"),
    ],
)
def test_name_core_strips_garbled_legal_forms_and_trailing_qualifiers(name: str, core: str) -> None:
    assert name_core([name]) == core


@pytest.mark.parametrize(
    ("name", "form"),
    [("Müller GmbH", "GMBH"), ("X sp. z o.o.", "SPZOO"), ("Evergreen Inc. (Boston)", "INC"), ("Acme", None)],
)
def test_legal_form_is_read_from_the_name(name: str, form: str | None) -> None:
    assert TRANSFORMS["legal_form"]([name]) == form


@pytest.mark.parametrize(
    ("short", "long", "expected"),
    [
        ("intl", "international", True),
        ("solns", "solutions", True),
        ("comm", "commerciale", True),
        ("mfg", "manufacturing", True),
        ("imom", "immobilien", False),
        ("x", "xylo", False),
    ],
)
def test_abbreviates(short: str, long: str, expected: bool) -> None:
    assert abbreviates(short, long) is expected


def test_tax_id_key_names_the_issuing_country_the_number_and_the_checksummed_code() -> None:
    assert TRANSFORMS["tax_id"](["CHE-116.281.710 MWST", "CH"]) == "CH 116281710 CHE116281710"
    assert TRANSFORMS["tax_id"](["136695976", "DE"]) == "DE 136695976 DE136695976"
    assert TRANSFORMS["tax_id"](["12", "DE"]) is None

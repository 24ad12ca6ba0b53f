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

import calendar
import hashlib
import json
import random
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faker import Faker
from stdnum import luhn, vatin
from stdnum.at import uid as at_uid
from stdnum.ch import uid as ch_uid
from stdnum.iso7064 import mod_11_10
from stdnum.us import ein as us_ein

from sandbox.datadir import SandboxData, write_data_dir
from sandbox.salesforce.schema import PICKLISTS, make_id
from sandbox.sap.system import CUSTOMER_NUMBER_START

REFERENCE_DATE = "2026-11-01"
_REF = calendar.timegm((2026, 11, 1, 0, 0, 0))
_DAY = 86_400
# SAP's "unlimited" validity end: 9999-12-31 (date) and 9999-12-31T23:59:59 (timestamp).
_SAP_END_OF_TIME_DATE = "/Date(253402214400000)/"
_SAP_END_OF_TIME_TS = "/Date(253402300799000+0000)/"
BP_NUMBER_START = 1_000_000
ADDRESS_ID_START = 30_000

BP_SERVICE = "API_BUSINESS_PARTNER"
PRODUCT_SERVICE = "API_PRODUCT_SRV"
ORDER_SERVICE = "API_SALES_ORDER_SRV"
PRICING_SERVICE = "API_SLSPRICINGCONDITIONRECORD_SRV"


@dataclass(frozen=True)
class SeedOptions:
    seed: int = 42
    customers: int = 200  # that many CRM accounts AND that many SAP business partners
    products: int = 50  # SAP products; the CRM holds copies of most of them
    orders: int = 100  # CRM orders, and as many SAP sales orders (some are the same order)
    overlap: float = 0.65  # share of real-world companies present in both systems
    duplicate_rate: float = 0.03  # share of records per system that duplicate another company record
    # Share of companies in groups of look-alikes that are different companies (sister companies at one
    # address, branches, one family's firms, franchises), with checksum-valid tax ids, many companies per
    # postal code and more missing values: the hard cases of real customer masters. 0: the classic seed.
    hard_cases: float = 0.0
    # SAP's customer numbers: the partner's own number (the CVI's "same numbers") or, by default, the
    # customer account group's own range, so A_BusinessPartner.Customer differs from BusinessPartner.
    same_customer_numbers: bool = False


# --- reference tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Country:
    iso: str
    locale: str
    weight: int
    language: str  # SAP language key
    names: tuple[tuple[str, int], ...]  # how people type the country into the CRM, with weights
    # canonical legal form -> (SAP LegalForm code, spellings; the first is the canonical one)
    legal_forms: tuple[tuple[str, str, tuple[str, ...], int], ...]
    phone_cc: str
    trunk: str
    areas: tuple[str, ...]
    subscriber_digits: tuple[int, int]
    currency: str
    sales_org: str
    tax_type: str
    time_zone: str
    tld: str
    regions: tuple[tuple[str, str], ...] = ()  # (SAP region code, name)


_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "DE",
        "de_DE",
        30,
        "DE",
        (("Germany", 50), ("Deutschland", 25), ("DE", 10), ("GER", 5), ("germany", 5), ("D", 5)),
        (
            ("GmbH", "02", (" GmbH", " Gesellschaft mit beschränkter Haftung", " Gmbh", " G.m.b.H."), 50),
            ("AG", "01", (" AG", " Aktiengesellschaft"), 15),
            ("GmbH & Co. KG", "05", (" GmbH & Co. KG", " GmbH & Co KG", " GmbH u. Co. KG"), 20),
            ("KG", "04", (" KG", " Kommanditgesellschaft"), 8),
            ("e.K.", "06", (" e.K.", " e. K."), 7),
        ),
        "49",
        "0",
        ("30", "40", "89", "221", "69", "711", "211", "6221", "351", "511"),
        (6, 8),
        "EUR",
        "1010",
        "DE0",
        "CET",
        "de",
        (
            ("BW", "Baden-Württemberg"),
            ("BY", "Bayern"),
            ("BE", "Berlin"),
            ("HB", "Bremen"),
            ("HH", "Hamburg"),
            ("HE", "Hessen"),
            ("NI", "Niedersachsen"),
            ("NW", "Nordrhein-Westfalen"),
            ("RP", "Rheinland-Pfalz"),
            ("SN", "Sachsen"),
            ("TH", "Thüringen"),
            ("SH", "Schleswig-Holstein"),
        ),
    ),
    _Country(
        "AT",
        "de_AT",
        6,
        "DE",
        (("Austria", 60), ("Österreich", 25), ("AT", 10), ("Oesterreich", 5)),
        (
            ("GmbH", "02", (" GmbH", " Ges.m.b.H.", " Gesellschaft m.b.H."), 70),
            ("AG", "01", (" AG", " Aktiengesellschaft"), 20),
            ("KG", "04", (" KG",), 10),
        ),
        "43",
        "0",
        ("1", "316", "512", "662", "732"),
        (6, 7),
        "EUR",
        "1010",
        "AT0",
        "CET",
        "at",
        (
            ("01", "Burgenland"),
            ("02", "Kärnten"),
            ("03", "Niederösterreich"),
            ("04", "Oberösterreich"),
            ("05", "Salzburg"),
            ("06", "Steiermark"),
            ("07", "Tirol"),
            ("08", "Vorarlberg"),
            ("09", "Wien"),
        ),
    ),
    _Country(
        "CH",
        "de_CH",
        6,
        "DE",
        (("Switzerland", 55), ("Schweiz", 25), ("CH", 10), ("Suisse", 10)),
        (
            ("AG", "01", (" AG", " Aktiengesellschaft"), 55),
            ("GmbH", "02", (" GmbH", " Gmbh"), 30),
            ("SA", "10", (" SA", " S.A."), 15),
        ),
        "41",
        "0",
        ("44", "31", "61", "22", "41", "71"),
        (7, 7),
        "CHF",
        "1210",
        "CH0",
        "CET",
        "ch",
        (
            ("ZH", "Zürich"),
            ("BE", "Bern"),
            ("LU", "Luzern"),
            ("BS", "Basel-Stadt"),
            ("GE", "Genf"),
            ("VD", "Waadt"),
            ("SG", "St. Gallen"),
            ("AG", "Aargau"),
            ("TI", "Tessin"),
            ("ZG", "Zug"),
        ),
    ),
    _Country(
        "FR",
        "fr_FR",
        8,
        "FR",
        (("France", 80), ("FR", 15), ("france", 5)),
        (
            ("SARL", "11", (" SARL", " S.A.R.L.", " Sarl"), 45),
            ("SA", "10", (" SA", " S.A."), 25),
            ("SAS", "12", (" SAS", " S.A.S."), 30),
        ),
        "33",
        "0",
        ("1", "2", "3", "4", "5"),
        (8, 8),
        "EUR",
        "1010",
        "FR0",
        "CET",
        "fr",
    ),
    _Country(
        "GB",
        "en_GB",
        10,
        "EN",
        (("United Kingdom", 45), ("UK", 25), ("Great Britain", 10), ("GB", 10), ("England", 10)),
        (
            ("Ltd", "20", (" Ltd", " Ltd.", " Limited"), 75),
            ("PLC", "21", (" PLC", " plc", " Public Limited Company"), 15),
            ("LLP", "22", (" LLP",), 10),
        ),
        "44",
        "0",
        ("20", "161", "121", "113", "131", "117"),
        (7, 8),
        "GBP",
        "1510",
        "GB0",
        "UTC",
        "co.uk",
    ),
    _Country(
        "US",
        "en_US",
        20,
        "EN",
        (
            ("United States", 40),
            ("USA", 30),
            ("US", 10),
            ("United States of America", 10),
            ("U.S.A.", 5),
            ("U.S.", 5),
        ),
        (
            ("Inc.", "30", (" Inc.", ", Inc.", " Inc", " Incorporated"), 50),
            ("LLC", "31", (" LLC", " L.L.C."), 30),
            ("Corp.", "32", (" Corp.", " Corporation", " Corp"), 20),
        ),
        "1",
        "",
        ("212", "415", "312", "617", "206", "512", "404", "305", "713", "303"),
        (7, 7),
        "USD",
        "1710",
        "US1",
        "EST",
        "com",
        (
            ("CA", "California"),
            ("NY", "New York"),
            ("TX", "Texas"),
            ("IL", "Illinois"),
            ("WA", "Washington"),
            ("MA", "Massachusetts"),
            ("GA", "Georgia"),
            ("FL", "Florida"),
            ("OH", "Ohio"),
            ("PA", "Pennsylvania"),
            ("MI", "Michigan"),
            ("NC", "North Carolina"),
        ),
    ),
    _Country(
        "NL",
        "nl_NL",
        7,
        "NL",
        (("Netherlands", 45), ("The Netherlands", 20), ("Nederland", 15), ("Holland", 10), ("NL", 10)),
        (("B.V.", "40", (" B.V.", " BV", " B.V"), 85), ("N.V.", "41", (" N.V.", " NV"), 15)),
        "31",
        "0",
        ("20", "10", "30", "70", "40"),
        (7, 7),
        "EUR",
        "1010",
        "NL0",
        "CET",
        "nl",
    ),
    _Country(
        "IT",
        "it_IT",
        7,
        "IT",
        (("Italy", 65), ("Italia", 25), ("IT", 10)),
        (
            ("S.r.l.", "50", (" S.r.l.", " SRL", " Srl"), 70),
            ("S.p.A.", "51", (" S.p.A.", " SpA", " S.P.A."), 30),
        ),
        "39",
        "",
        ("02", "06", "011", "051", "055", "081"),
        (6, 8),
        "EUR",
        "1010",
        "IT0",
        "CET",
        "it",
        (
            ("MI", "Milano"),
            ("RM", "Roma"),
            ("TO", "Torino"),
            ("BO", "Bologna"),
            ("FI", "Firenze"),
            ("NA", "Napoli"),
            ("VE", "Venezia"),
            ("BG", "Bergamo"),
        ),
    ),
    _Country(
        "ES",
        "es_ES",
        6,
        "ES",
        (("Spain", 65), ("España", 20), ("Espana", 5), ("ES", 10)),
        (("S.L.", "60", (" S.L.", " SL", " S.L"), 70), ("S.A.", "10", (" S.A.", " SA"), 30)),
        "34",
        "",
        ("91", "93", "96", "95", "94", "976"),
        (6, 7),
        "EUR",
        "1010",
        "ES0",
        "CET",
        "es",
        (
            ("28", "Madrid"),
            ("08", "Barcelona"),
            ("46", "Valencia"),
            ("41", "Sevilla"),
            ("48", "Bizkaia"),
            ("50", "Zaragoza"),
        ),
    ),
)
_BY_ISO = {c.iso: c for c in _COUNTRIES}

_SECTORS: dict[str, tuple[str, ...]] = {
    "DE": (
        "Maschinenbau",
        "Logistik",
        "Elektrotechnik",
        "Handel",
        "Metallbau",
        "Systemtechnik",
        "Antriebstechnik",
        "Anlagenbau",
        "Kunststofftechnik",
        "Feinmechanik",
        "Industries",
        "Technologies",
    ),
    "EN": (
        "Industries",
        "Logistics",
        "Systems",
        "Manufacturing",
        "Technologies",
        "Engineering",
        "Solutions",
        "Trading",
        "Holdings",
        "Components",
        "Electronics",
        "Services",
    ),
    "FR": ("Industrie", "Logistique", "Systèmes", "Technologies", "Équipements", "Mécanique", "Services"),
    "NL": ("Techniek", "Logistiek", "Handel", "Installatietechniek", "Machinebouw", "Systems"),
    "IT": ("Meccanica", "Logistica", "Sistemi", "Tecnologie", "Impianti", "Componenti", "Engineering"),
    "ES": ("Industrias", "Logística", "Sistemas", "Tecnologías", "Componentes", "Ingeniería"),
}
_AND = {"DE": " und ", "EN": " and ", "FR": " et ", "NL": " en ", "IT": " e ", "ES": " y "}
_PREFIXES = (
    "Alpha",
    "Nord",
    "Euro",
    "Global",
    "Atlas",
    "Delta",
    "Vertex",
    "Nova",
    "Primus",
    "Orion",
    "Apex",
    "Terra",
    "Helix",
    "Summit",
    "Pioneer",
    "Polaris",
    "Zenith",
    "Vector",
    "Meridian",
    "Titan",
)
# (long form, CRM abbreviations)
_ABBREVIATIONS = (
    (" International", (" Intl", " Int'l", " Intl.")),
    (" Technologies", (" Tech", " Technology")),
    (" Manufacturing", (" Mfg", " Mfg.")),
    (" Engineering", (" Eng.", " Engg")),
    (" Industries", (" Ind.", " Industry")),
    (" Systems", (" Sys.", " System")),
    (" Services", (" Svcs", " Service")),
)
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})

_DE_STREET_BASES = (
    "Haupt",
    "Bahnhof",
    "Schul",
    "Garten",
    "Kirch",
    "Berg",
    "Wald",
    "Linden",
    "Industrie",
    "Gewerbe",
    "Mühlen",
    "Feld",
    "Wiesen",
    "Rosen",
    "Post",
    "Markt",
    "Friedrich",
    "Goethe",
)
_EN_STREET_BASES = (
    "Main",
    "Oak",
    "Maple",
    "Park",
    "Washington",
    "Lake",
    "Hill",
    "Church",
    "High",
    "Station",
    "Mill",
    "King",
    "Queen",
    "Elm",
    "Cedar",
    "Pine",
    "River",
    "Market",
)
_EN_STREET_TYPES = (
    ("Street", ("St", "St.")),
    ("Avenue", ("Ave", "Ave.")),
    ("Road", ("Rd", "Rd.")),
    ("Drive", ("Dr", "Dr.")),
    ("Lane", ("Ln",)),
    ("Boulevard", ("Blvd", "Blvd.")),
    ("Court", ("Ct",)),
    ("Way", ("Way",)),
)
_EN_STREET_ABBREV = {long: short for long, short in _EN_STREET_TYPES}
_STREET_ABBREV: dict[str, tuple[tuple[str, str], ...]] = {
    "DE": (("straße", "str."), ("Straße", "Str."), ("straße", "strasse")),
    "AT": (("straße", "str."), ("gasse", "g."), ("straße", "strasse")),
    "CH": (("strasse", "str."),),
    "NL": (("straat", "str."), ("weg", "wg.")),
    "FR": (("avenue", "av."), ("boulevard", "bd"), ("rue", "Rue")),
    "IT": (("Via", "V."), ("Piazza", "P.zza"), ("Viale", "V.le")),
    "ES": (("Calle", "C/"), ("Avenida", "Avda."), ("Paseo", "Pº"), ("Plaza", "Pza.")),
}
_WEB_FORMS = ("www.{d}", "http://www.{d}", "https://www.{d}", "https://{d}", "{d}", "www.{d}/", "WWW.{d}")
_EMAIL_LOCALS = {
    "DE": ("info", "kontakt", "vertrieb", "office", "buchhaltung"),
    "EN": ("info", "sales", "contact", "office", "accounts"),
}
_PAYMENT_TERMS = ("0001", "0002", "0004", "NT30", "NT60")
_INCOTERMS = ("EXW", "FCA", "DAP", "DDP", "CPT")
_TITLES = (
    "Purchasing Manager",
    "Head of Procurement",
    "CFO",
    "Buyer",
    "Managing Director",
    "Accounts Payable",
    "Operations Manager",
    "Einkaufsleiter",
    "Geschäftsführer",
)
_INDUSTRIES = [v for v in PICKLISTS[("Account", "Industry")][0] if v != "Other"]
_ACCOUNT_SOURCES = PICKLISTS[("Account", "AccountSource")][0]

# Products: (EN, DE) word pairs. German compounds join prefix and lower-cased noun.
_PRODUCT_NOUNS = (
    ("Pump", "Pumpe"),
    ("Valve", "Ventil"),
    ("Motor", "Motor"),
    ("Gearbox", "Getriebe"),
    ("Sensor", "Sensor"),
    ("Bearing", "Lager"),
    ("Controller", "Steuerung"),
    ("Cable", "Kabel"),
    ("Filter", "Filter"),
    ("Compressor", "Kompressor"),
    ("Switch", "Schalter"),
    ("Coupling", "Kupplung"),
    ("Seal Kit", "Dichtungssatz"),
    ("Fan", "Lüfter"),
    ("Drive", "Antrieb"),
    ("Housing", "Gehäuse"),
)
_PRODUCT_ADJECTIVES = (
    ("Hydraulic", "Hydraulik"),
    ("Electric", "Elektro"),
    ("Stainless", "Edelstahl"),
    ("Industrial", "Industrie"),
    ("Compact", "Kompakt"),
    ("Heavy-Duty", "Schwerlast"),
    ("Precision", "Präzisions"),
    ("Pneumatic", "Pneumatik"),
)
_SERVICES = (
    ("Installation Service", "Installationsservice"),
    ("Maintenance Visit", "Wartungseinsatz"),
    ("Commissioning", "Inbetriebnahme"),
    ("Operator Training", "Bedienerschulung"),
    ("Repair Service", "Reparaturservice"),
)
_UNIT_TO_SF = {"PC": "Piece", "EA": "Each", "KG": "Kilogram", "M": "Meter", "L": "Liter", "H": "Hour"}
_TYPE_TO_FAMILY = {"FERT": "Hardware", "HAWA": "Spare Parts", "DIEN": "Services"}
_SALES_ORGS = {"EUR": "1010", "CHF": "1210", "GBP": "1510", "USD": "1710"}
_FX = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "CHF": 0.95}
_SAP_STATUS_TEXT = {"A": "Open", "B": "In Process", "C": "Completed"}
_SAP_USERS = ("CB9980000011", "CB9980000023", "MIGRATION", "SYNCADMIN", "BATCH_JOB")


class _Rng(random.Random):
    """``random.Random`` with float-based ``randint``/``choice``: several times faster than the exact
    rejection sampling, still a pure function of the seed, and the bias (< 2**-40) is irrelevant here."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):  # type: ignore[override]
        return seq[int(self.random() * len(seq))]


# --- formatting --------------------------------------------------------------------------------------


def _sf_datetime(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(t))


def _iso_date(t: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def _sap_date(t: int) -> str:
    return f"/Date({(t - t % _DAY) * 1000})/"


def _sap_time(t: int) -> str:
    s = t % _DAY
    return f"PT{s // 3600:02d}H{s % 3600 // 60:02d}M{s % 60:02d}S"


def _sap_timestamp(t: int) -> str:
    return f"/Date({t * 1000}+0000)/"


def _dec(value: float, scale: int) -> str:
    return f"{value:.{scale}f}"


def _guid(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``, so it is reproducible."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length].rstrip()


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.translate(_TRANSLIT)).encode("ascii", "ignore").decode()
    out, dash = [], False
    for ch in plain.lower():
        if ch.isalnum():
            out.append(ch)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    return "".join(out).strip("-")[:40].strip("-") or "company"


# --- the real world --------------------------------------------------------------------------------


@dataclass
class _Pools:
    last_names: list[str]
    first_names: list[str]
    places: list[tuple[str, str, int]]  # city, canonical postal code, region index (-1 for none)
    streets: list[str]
    place_weights: list[float] | None = None  # hard cases: big cities, many postal codes, crowded ones


@dataclass
class _Company:
    entity_id: str
    country: _Country
    core: str
    legal: tuple[str, str, tuple[str, ...], int]
    street: str
    house: str
    postal: str
    city: str
    region: int
    vat: str | None  # canonical tax number (VAT id, or EIN in the US)
    phone_area: str
    phone_sub: str
    slug: str
    domain: str
    industry: str | None
    employees: int
    in_sf: bool
    in_sap: bool
    duns: str = ""  # D-U-N-S number (CRM accounts carry it now and then)
    group: str | None = None  # hard cases: the look-alike group it belongs to ("sisters-12")
    sf_ids: list[str] = field(default_factory=list)
    sap_ids: list[str] = field(default_factory=list)

    @property
    def canonical_name(self) -> str:
        return self.core + self.legal[2][0]


def _build_pools(seed: int, country: _Country) -> _Pools:
    fake = Faker(country.locale)
    fake.seed_instance(seed)
    for provider in fake.get_providers():
        # it_IT builds its city list from a set, so its order (and the cities drawn) would follow the
        # process's string hash seed; a sorted copy on this instance makes the draw reproducible.
        if isinstance(getattr(provider, "cities", None), list):
            provider.cities = sorted(provider.cities)
    rng = _Rng(f"{seed}-pools-{country.iso}")
    last = sorted({fake.last_name() for _ in range(500)})
    first = sorted({fake.first_name() for _ in range(250)})
    places: list[tuple[str, str, int]] = []
    for _ in range(400):
        city = _cut(fake.city(), 40)
        postal = fake.zipcode() if country.iso == "US" else fake.postcode()
        if country.iso == "NL":
            postal = postal.replace(" ", "")
            postal = f"{postal[:4]} {postal[4:]}"
        region = rng.randrange(len(country.regions)) if country.regions else -1
        places.append((city, postal, region))
    streets: list[str] = []
    for _ in range(400):
        if country.iso in ("DE", "AT"):
            base = rng.choice(_DE_STREET_BASES) if rng.random() < 0.5 else rng.choice(last)
            suffixes = ("straße", "weg", "allee", "ring", "platz", "gasse")
            suffix = rng.choices(suffixes, (55, 15, 10, 8, 6, 6))[0]
            street = f"{base}{suffix}" if " " not in base and "-" not in base else f"{base}-{suffix.title()}"
        elif country.iso == "CH":
            base = rng.choice(_DE_STREET_BASES) if rng.random() < 0.5 else rng.choice(last)
            street = f"{base}{rng.choices(('strasse', 'weg', 'gasse', 'platz'), (70, 15, 10, 5))[0]}"
        elif country.iso in ("US", "GB"):
            base = rng.choice(_EN_STREET_BASES) if rng.random() < 0.5 else rng.choice(last)
            street = f"{base} {rng.choices(_EN_STREET_TYPES, (40, 15, 15, 10, 6, 5, 5, 4))[0][0]}"
        else:
            street = fake.street_name()
        streets.append(_cut(street, 50))
    return _Pools(last, first, places, streets)


# --- hard cases ----------------------------------------------------------------------------------------

# Words that tell group companies apart ("Brandt Logistik Verwaltungs GmbH", "X Foods Oost B.V.").
_GROUP_WORDS = {
    "DE": ("Verwaltungs", "Holding", "Beteiligungs", "Service", "Vertrieb", "Digital", "Immobilien"),
    "EN": ("Holdings", "Services", "Digital", "Europe", "Property", "Trading", "Group"),
    "FR": ("Holding", "Services", "Digital", "Distribution", "Immobilier"),
    "NL": ("Holding", "Services", "Digital", "Vastgoed", "Beheer"),
    "IT": ("Holding", "Servizi", "Digital", "Immobiliare", "Distribuzione"),
    "ES": ("Holding", "Servicios", "Digital", "Inmobiliaria", "Distribución"),
}
_REGION_WORDS = {
    "DE": ("Nord", "Süd", "Ost", "West", "Mitte", "Bayern", "Sachsen"),
    "EN": ("North", "South", "East", "West", "Midlands", "Scotland"),
    "FR": ("Nord", "Sud", "Est", "Ouest", "Île-de-France"),
    "NL": ("Noord", "Zuid", "Oost", "West", "Brabant"),
    "IT": ("Nord", "Sud", "Est", "Ovest", "Lombardia"),
    "ES": ("Norte", "Sur", "Este", "Oeste", "Levante"),
}
_FRANCHISE_WORDS = {
    "DE": ("Backhaus", "Optik", "Reisebüro", "Fitness", "Autoservice", "Kaffeerösterei"),
    "EN": ("Coffee", "Fitness", "Print", "Car Care", "Pet Supplies", "Bakery"),
    "FR": ("Boulangerie", "Optique", "Fitness", "Auto Service"),
    "NL": ("Bakkerij", "Optiek", "Fitness", "Autoservice"),
    "IT": ("Panificio", "Ottica", "Fitness", "Autoservizi"),
    "ES": ("Panadería", "Óptica", "Fitness", "Autoservicio"),
}
_SIMILAR = (
    ("ei", "ai"),
    ("ai", "ey"),
    ("ey", "ei"),
    ("dt", "tt"),
    ("tt", "t"),
    ("ck", "k"),
    ("ph", "f"),
    ("mm", "m"),
    ("nn", "n"),
    ("ll", "l"),
    ("ss", "ß"),
    ("ü", "ue"),
    ("o", "ö"),
    ("i", "y"),
    ("mann", "man"),
    ("son", "sen"),
    ("er", "ner"),
)


def _similar_name(rng: random.Random, name: str) -> str:
    """Another family name one or two letters away ('Meier' -> 'Maier', 'Schmidt' -> 'Schmitt')."""
    options = [(a, b) for a, b in _SIMILAR if a in name]
    if options:
        a, b = rng.choice(options)
        other = name.replace(a, b, 1)
    else:
        i = rng.randrange(1, max(len(name), 2))
        other = name[:i] + rng.choice("aeiourns") + name[i + 1 :]
    return other if other != name else name + "s"


def _crowd(pools: _Pools, rng: random.Random) -> None:
    """Cities with many postal codes, and places drawn unevenly: hundreds of companies per postal code."""
    cities = list(dict.fromkeys(place[0] for place in pools.places))[:150]
    crowded = []
    for _city, postal, region in pools.places:
        city = cities[min(int(len(cities) * rng.random() ** 2.5), len(cities) - 1)]
        crowded.append((city, postal, region))
    pools.places = crowded
    pools.place_weights = [1.0 / (k + 1) ** 0.7 for k in range(len(crowded))]


def _duns(seed: int, entity_id: str) -> str:
    """A company's D-U-N-S number: nine digits, fixed by the seed and the company."""
    digest = hashlib.sha256(f"{seed}-duns-{entity_id}".encode()).digest()
    return f"{100_000_000 + int.from_bytes(digest[:8], 'big') % 900_000_000}"


def _digit_typo(rng: random.Random, text: str) -> str:
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits:
        return text
    i = rng.choice(digits)
    return text[:i] + str((int(text[i]) + rng.randint(1, 9)) % 10) + text[i + 1 :]


def _valid_vat(rng: random.Random, c: _Country) -> str:
    """A tax number of ``c``'s format that passes its checksum (python-stdnum), as real ones do."""

    def digits(k: int) -> str:
        return "".join(str(rng.randrange(10)) for _ in range(k))

    iso = c.iso
    if iso == "US":
        while True:
            ein = f"{rng.randint(10, 99)}-{digits(7)}"
            if us_ein.is_valid(ein):
                return ein
    if iso == "FR":
        while True:
            siren = str(rng.randint(1, 9)) + digits(7)
            siren += luhn.calc_check_digit(siren)
            if luhn.is_valid(siren):
                return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    for _ in range(1000):
        if iso == "DE":
            body = str(rng.randint(1, 9)) + digits(7)
            code = f"DE{body}{mod_11_10.calc_check_digit(body)}"
        elif iso == "AT":
            body = digits(7)
            code = f"ATU{body}{at_uid.calc_check_digit('U' + body)}"
        elif iso == "CH":
            body = str(rng.randint(1, 9)) + digits(7)
            code = f"CHE{body}{ch_uid.calc_check_digit(body)}"
        elif iso == "IT":
            body = digits(10)
            code = f"IT{body}{luhn.calc_check_digit(body)}"
        elif iso == "GB":
            code = f"GB{rng.randint(1, 9)}{digits(8)}"
        elif iso == "NL":
            code = f"NL{digits(9)}B{rng.randint(1, 9):02d}"
        elif iso == "ES":
            code = f"ES{rng.choice('ABCDEFGHJ')}{digits(8)}"
        else:
            code = f"{iso}{digits(9)}"
        if vatin.is_valid(code if iso != "CH" else code + "MWST"):
            return code
    raise RuntimeError(f"no valid tax number for {iso} in 1000 draws")  # pragma: no cover


class _Generator:
    """Holds the random streams and pools; each ``*_records`` method renders one part of the data."""

    def __init__(self, options: SeedOptions):
        self.o = options
        self.hard = options.hard_cases > 0
        self.pools = {c.iso: _build_pools(options.seed, c) for c in _COUNTRIES}
        if self.hard:
            for iso, pools in self.pools.items():
                _crowd(pools, _Rng(f"{options.seed}-crowd-{iso}"))
        self.country_weights = [c.weight for c in _COUNTRIES]
        self.data = SandboxData(salesforce={}, sap={})
        self.truth: dict[str, Any] = {
            "seed": options.seed,
            "options": asdict(options),
            "reference_date": REFERENCE_DATE,
        }

    # ---- helpers on one stream
    @staticmethod
    def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
        return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]

    @staticmethod
    def _typo(rng: random.Random, text: str) -> str:
        letters = [i for i, ch in enumerate(text) if ch.isalpha()]
        if len(letters) < 4:
            return text
        i = rng.choice(letters[1:])
        op = rng.randrange(4)
        if op == 0 and i + 1 < len(text):  # swap with the next character
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        if op == 1:  # drop
            return text[:i] + text[i + 1 :]
        if op == 2:  # double
            return text[:i] + text[i] + text[i:]
        sub = rng.choice("aeinorstlm")
        return text[:i] + (sub.upper() if text[i].isupper() else sub) + text[i + 1 :]

    @staticmethod
    def _stamps(rng: random.Random, max_age_days: int = 900) -> tuple[int, int]:
        """(created, last modified): created up to ``max_age_days`` back, changed in the last ten weeks."""
        created = _REF - rng.randint(7 * _DAY, max_age_days * _DAY)
        modified = max(created + rng.randint(0, 3600), _REF - rng.randint(3600, 70 * _DAY))
        return created, min(modified, _REF - 60)

    # ---- companies
    def companies(self) -> list[_Company]:
        rng = _Rng(f"{self.o.seed}-companies")
        n = self.o.customers
        dup_sf = dup_sap = min(n - 1, round(n * self.o.duplicate_rate)) if n > 1 else 0
        distinct_sf, distinct_sap = n - dup_sf, n - dup_sap
        o = self.o.overlap
        shared = min(distinct_sf, distinct_sap, round(o * (distinct_sf + distinct_sap) / (1 + o)))
        membership = ["both"] * shared + ["sf"] * (distinct_sf - shared) + ["sap"] * (distinct_sap - shared)
        rng.shuffle(membership)
        seen: set[tuple[str, str]] = set()
        out: list[_Company] = []
        for number, where in enumerate(membership, start=1):
            country = rng.choices(_COUNTRIES, self.country_weights)[0]
            out.append(self._company(rng, f"C{number:06d}", country, where, seen))
        self._dup_sf = dup_sf
        self._dup_sap = dup_sap
        return out

    def _core_name(self, rng: random.Random, country: _Country) -> str:
        pools = self.pools[country.iso]
        last = rng.choice(pools.last_names)
        p = rng.random()
        if p < 0.30:
            return last
        if p < 0.50:
            return f"{last} & {rng.choice(pools.last_names)}"
        if p < 0.75:
            return f"{last} {rng.choice(_SECTORS[country.language])}"
        if p < 0.90:
            return f"{rng.choice(_PREFIXES)} {rng.choice(_SECTORS[country.language])}"
        return f"{last} International"

    def _company(
        self, rng: random.Random, entity_id: str, country: _Country, where: str, seen: set[tuple[str, str]]
    ) -> _Company:
        pools = self.pools[country.iso]
        core = self._core_name(rng, country)
        for _ in range(6):
            if (core.lower(), country.iso) not in seen:
                break
            core = self._core_name(rng, country)
        else:
            core = f"{core} {rng.choice(pools.places)[0]}"
        seen.add((core.lower(), country.iso))
        legal = rng.choices(country.legal_forms, [lf[3] for lf in country.legal_forms])[0]
        if pools.place_weights:
            city, postal, region = rng.choices(pools.places, pools.place_weights)[0]
        else:
            city, postal, region = rng.choice(pools.places)
        house = str(rng.choices((rng.randint(1, 30), rng.randint(31, 250)), (70, 30))[0])
        if rng.random() < 0.05:
            house += rng.choice("abc")
        low, high = country.subscriber_digits
        sub_len = rng.randint(low, high)
        if country.iso == "US":
            sub = f"555{rng.randint(100, 199):04d}"  # 555-01xx: the numbers reserved for fiction
        else:
            sub = f"{rng.randrange(10 ** (sub_len - 1), 10**sub_len)}"
        slug = _ascii_slug(core)
        tld = country.tld if rng.random() < 0.75 else "com"
        return _Company(
            entity_id=entity_id,
            country=country,
            core=core,
            legal=legal,
            street=rng.choice(pools.streets),
            house=house,
            postal=postal,
            city=city,
            region=region,
            vat=_valid_vat(rng, country) if self.hard else self._vat(rng, country),
            phone_area=rng.choice(country.areas),
            phone_sub=sub,
            slug=slug,
            domain=f"{slug}.{tld}",
            industry=rng.choice(_INDUSTRIES) if rng.random() < 0.85 else None,
            employees=int(rng.lognormvariate(4.0, 1.3)) + 1,
            in_sf=where in ("both", "sf"),
            in_sap=where in ("both", "sap"),
            duns=_duns(self.o.seed, entity_id),
        )

    @staticmethod
    def _vat(rng: random.Random, c: _Country) -> str:
        def digits(k: int) -> str:
            return f"{rng.randrange(10**k):0{k}d}"

        match c.iso:
            case "DE" | "GB":
                return f"{c.iso}{rng.randint(1, 9)}{digits(8)}"
            case "AT":
                return f"ATU{digits(8)}"
            case "CH":
                return f"CHE{rng.randint(1, 9)}{digits(8)}"
            case "FR":
                return f"FR{digits(2)}{rng.randint(1, 9)}{digits(8)}"
            case "NL":
                return f"NL{digits(9)}B{rng.randint(1, 9):02d}"
            case "IT":
                return f"IT{digits(11)}"
            case "ES":
                return f"ES{rng.choice('ABCDEFGHJ')}{digits(8)}"
            case _:  # US employer identification number
                return f"{rng.randint(10, 99)}-{digits(7)}"

    # ---- rendering a company into one system
    def _name_variant(self, rng: random.Random, c: _Company, crm: bool) -> str:
        """The company name as typed into one system; the CRM copy is the messier one."""
        core = c.core
        if crm:
            for long, shorts in _ABBREVIATIONS:
                if long in core and rng.random() < 0.5:
                    core = core.replace(long, rng.choice(shorts))
            if " & " in core and rng.random() < 0.4:
                core = core.replace(" & ", rng.choice((_AND[c.country.language], " and ", " + ")))
        spellings = c.legal[2]
        p = rng.random()
        canonical, other, missing = (0.55, 0.35, 0.10) if crm else (0.88, 0.07, 0.05)
        if p < canonical:
            legal = spellings[0]
        elif p < canonical + other and len(spellings) > 1:
            legal = rng.choice(spellings[1:])
        elif p < canonical + other:
            legal = spellings[0]
        else:
            legal = ""
        name = core + legal
        if rng.random() < (0.08 if crm else 0.03):
            name = self._typo(rng, name)
        if not name.isascii() and rng.random() < (0.3 if crm else 0.05):
            name = unicodedata.normalize("NFKD", name.translate(_TRANSLIT)).encode("ascii", "ignore").decode()
        q = rng.random()
        if q < (0.04 if crm else 0.05):
            name = name.upper()
        elif crm and q < 0.05:
            name = name.lower()
        elif crm and q < 0.07:
            name = name.replace(" ", "  ", 1) if " " in name else name + " "
        return name

    def _street_variant(self, rng: random.Random, c: _Company) -> str:
        """The CRM's one-line street, in a local format with local abbreviations."""
        iso, street = c.country.iso, c.street
        if iso in ("US", "GB"):
            kind = street.rsplit(" ", 1)[-1]
            if kind in _EN_STREET_ABBREV and rng.random() < 0.55:
                street = street[: -len(kind)] + rng.choice(_EN_STREET_ABBREV[kind])
            line = f"{c.house} {street}"
            if iso == "US" and rng.random() < 0.06:
                line += rng.choice((f"\nSuite {rng.randint(100, 900)}", f", Ste {rng.randint(100, 900)}"))
            return line
        for long, short in _STREET_ABBREV.get(iso, ()):
            if long in street and rng.random() < 0.35:
                street = street.replace(long, short, 1)
                break
        if iso == "FR":
            return rng.choice((f"{c.house} {street}", f"{c.house}, {street}", f"{c.house} {street.upper()}"))
        if iso in ("IT", "ES"):
            return rng.choice((f"{street} {c.house}", f"{street}, {c.house}"))
        line = f"{street} {c.house}"
        if iso in ("DE", "AT", "CH") and rng.random() < 0.03:
            line += rng.choice(("\nGebäude B", "\nHinterhaus", "\n2. OG"))
        return line

    @staticmethod
    def _postal_variant(rng: random.Random, c: _Company, crm: bool) -> str:
        postal, iso = c.postal, c.country.iso
        if iso in ("GB", "NL") and rng.random() < (0.4 if crm else 0.1):
            return postal.replace(" ", "")
        if crm and iso in ("DE", "AT", "CH") and rng.random() < 0.04:
            return {"DE": "D-", "AT": "A-", "CH": "CH-"}[iso] + postal
        if crm and iso == "US" and rng.random() < 0.1:
            return f"{postal}-{rng.randint(1000, 9999)}"
        return postal

    @staticmethod
    def _phone_variant(rng: random.Random, c: _Company) -> str:
        cc, trunk, area, sub = c.country.phone_cc, c.country.trunk, c.phone_area, c.phone_sub
        if cc == "1":
            a, x, n = area, sub[:3], sub[3:]
            return rng.choice(
                (
                    f"({a}) {x}-{n}",
                    f"+1-{a}-{x}-{n}",
                    f"{a}.{x}.{n}",
                    f"+1 {a} {x} {n}",
                    f"{a}-{x}-{n}",
                    f"{a}{x}{n}",
                )
            )
        if c.country.iso == "FR":
            grouped = " ".join(sub[i : i + 2] for i in range(0, len(sub), 2))
            return rng.choice(
                (f"+33 {area} {grouped}", f"0{area} {grouped}", f"0{area}{sub}", f"+33 (0){area} {grouped}")
            )
        forms = [f"+{cc} {area} {sub}", f"+{cc}{area}{sub}", f"00{cc} {area} {sub}"]
        if trunk:
            forms += [
                f"{trunk}{area} {sub}",
                f"{trunk}{area}/{sub}",
                f"+{cc} ({trunk}){area} {sub}",
                f"{trunk}{area}-{sub}",
            ]
        return rng.choice(forms)

    @staticmethod
    def _vat_variant(rng: random.Random, vat: str, crm: bool) -> str:
        if not vat[:2].isalpha():
            return vat if rng.random() < 0.7 else vat.replace("-", "")
        p = rng.random()
        if p < (0.5 if crm else 0.92):
            return vat
        size = 3 if vat[:3] in ("CHE", "ATU") else 2
        prefix, rest = vat[:size], vat[size:]
        if p < (0.72 if crm else 0.97):
            if prefix == "CHE":  # the Swiss UID as printed on invoices
                return f"CHE-{rest[:3]}.{rest[3:6]}.{rest[6:]} MWST"
            return f"{prefix} " + " ".join(rest[i : i + 3] for i in range(0, len(rest), 3))
        if p < 0.85 or not crm:
            return rest
        if p < 0.92:
            return vat.lower()
        return f"{prefix}-{rest}"

    def _website(self, rng: random.Random, c: _Company) -> str:
        return rng.choice(_WEB_FORMS).format(d=c.domain)

    # ---- Salesforce Accounts
    def accounts(self, companies: list[_Company], rng: random.Random) -> list[dict]:
        picks: list[tuple[_Company, bool]] = [(c, False) for c in companies if c.in_sf]
        members = [c for c in companies if c.in_sf]
        picks += [(rng.choice(members), True) for _ in range(self._dup_sf)]
        rng.shuffle(picks)
        return [self._account(rng, number, c, dup) for number, (c, dup) in enumerate(picks, start=1)]

    def _account(self, rng: random.Random, number: int, c: _Company, dup: bool) -> dict:
        country = c.country
        record_id = make_id("001", number)
        c.sf_ids.append(record_id)
        created, modified = self._stamps(rng)
        miss = 0.25 if dup else 0.08  # a duplicate is usually a quick, incomplete entry
        rec: dict[str, Any] = {
            "Id": record_id,
            "IsDeleted": False,
            "Name": self._name_variant(rng, c, crm=True),
            "Type": rng.choice(("Customer - Direct", "Customer - Channel"))
            if c.in_sap and rng.random() < 0.8
            else rng.choice(("Prospect", "Prospect", "Other", "Customer - Direct")),
        }
        if rng.random() > miss:
            rec["BillingStreet"] = self._street_variant(rng, c)
        rec["BillingCity"] = c.city if rng.random() > 0.05 else c.city.upper()
        if c.region >= 0 and rng.random() < (0.85 if country.iso == "US" else 0.35):
            code, name = country.regions[c.region]
            rec["BillingState"] = code if country.iso == "US" and rng.random() < 0.5 else name
        if rng.random() > miss / 2:
            rec["BillingPostalCode"] = self._postal_variant(rng, c, crm=True)
        if rng.random() > 0.03:
            rec["BillingCountry"] = self._weighted(rng, country.names)
        if rng.random() > miss:
            rec["Phone"] = self._phone_variant(rng, c)
        if rng.random() > miss + 0.07:
            rec["Website"] = self._website(rng, c)
        if c.industry and rng.random() > miss:
            rec["Industry"] = c.industry
        if rng.random() < 0.7:
            rec["NumberOfEmployees"] = c.employees
            rec["AnnualRevenue"] = float(round(c.employees * rng.uniform(80_000, 250_000), -3))
        if rng.random() < 0.25:
            rng.random()  # (the draw a per-record number once took: same stream, same seed bytes)
            rec["DunsNumber"] = c.duns
        if rng.random() < 0.5:
            rec["AccountSource"] = rng.choice(_ACCOUNT_SOURCES)
        vat_missing = 0.5 if country.iso == "US" else miss + 0.17
        if self.hard:
            vat_missing += 0.1
            if "BillingPostalCode" in rec and rng.random() < 0.08:
                del rec["BillingPostalCode"]
        if c.vat and rng.random() > vat_missing:
            rec["VAT_Number__c"] = self._vat_variant(rng, c.vat, crm=True)
            if self.hard and rng.random() < 0.02:
                rec["VAT_Number__c"] = _digit_typo(rng, rec["VAT_Number__c"])
        rec["CreatedDate"] = _sf_datetime(created)
        rec["LastModifiedDate"] = rec["SystemModstamp"] = _sf_datetime(modified)
        return rec

    # ---- SAP business partners
    def partners(self, companies: list[_Company], rng: random.Random) -> dict[str, list[dict]]:
        picks: list[tuple[_Company, bool]] = [(c, False) for c in companies if c.in_sap]
        members = [c for c in companies if c.in_sap]
        picks += [(rng.choice(members), True) for _ in range(self._dup_sap)]
        rng.shuffle(picks)
        sets: dict[str, list[dict]] = {
            name: []
            for name in (
                "A_BusinessPartner",
                "A_BusinessPartnerAddress",
                "A_AddressEmailAddress",
                "A_AddressPhoneNumber",
                "A_BusinessPartnerRole",
                "A_BusinessPartnerTaxNumber",
                "A_Customer",
                "A_CustomerSalesArea",
            )
        }
        self.partner_info: dict[str, tuple[str, str, str]] = {}  # BP -> (sales org, currency, payment terms)
        # BP -> its customer's number. Own numbers count up in the order the partners were created,
        # with the gaps a number range gets (customers of other account groups, cancelled creations);
        # a stream of its own, so the rest of the seed stays as it was.
        self.customer_of: dict[str, str] = {}
        cvi = _Rng(f"{self.o.seed}-customer-numbers")
        self._area_rng = _Rng(f"{self.o.seed}-sales-areas")
        next_customer = CUSTOMER_NUMBER_START
        for number in range(len(picks)):
            bp = str(BP_NUMBER_START + number)
            if self.o.same_customer_numbers:
                self.customer_of[bp] = bp
            else:
                next_customer += cvi.randint(1, 6) if cvi.random() < 0.15 else 0
                self.customer_of[bp] = str(next_customer)
                next_customer += 1
        for number, (c, dup) in enumerate(picks):
            self._partner(rng, str(BP_NUMBER_START + number), str(ADDRESS_ID_START + number), c, dup, sets)
        return sets

    def _partner(
        self,
        rng: random.Random,
        bp: str,
        address_id: str,
        c: _Company,
        dup: bool,
        sets: dict[str, list[dict]],
    ) -> None:
        country = c.country
        c.sap_ids.append(bp)
        created, modified = self._stamps(rng, 2500)
        changed = rng.random() < 0.85
        user = rng.choice(_SAP_USERS)
        name = self._name_variant(rng, c, crm=dup)
        if rng.random() < 0.15 and name.endswith(c.legal[2][0]) and c.legal[2][0]:
            name1, name2 = name[: -len(c.legal[2][0])], c.legal[2][0].strip()  # legal form in name line 2
        elif len(name) <= 40:
            name1, name2 = name, ""
        else:
            cut = name.rfind(" ", 0, 41)
            cut = cut if cut > 0 else 40
            name1, name2 = name[:cut], _cut(name[cut:].strip(), 40)
        full = _cut(f"{name1} {name2}".strip(), 80)
        search = _cut(c.slug.split("-")[0].upper(), 20)
        customer = self.customer_of[bp]
        sets["A_BusinessPartner"].append(
            {
                "BusinessPartner": bp,
                "Customer": customer,
                "BusinessPartnerCategory": "2",
                "BusinessPartnerFullName": full,
                "BusinessPartnerName": full,
                "BusinessPartnerGrouping": rng.choice(("BP02", "BP02", "BP02", "Z001")),
                "BusinessPartnerUUID": _guid(rng),
                "OrganizationBPName1": _cut(name1, 40),
                "OrganizationBPName2": name2,
                "SearchTerm1": search,
                "SearchTerm2": _cut(c.city.upper(), 20) if rng.random() < 0.4 else "",
                "Language": country.language,
                "CorrespondenceLanguage": country.language,
                "LegalForm": c.legal[1] if rng.random() < 0.7 else "",
                "IsNaturalPerson": "",
                "BusinessPartnerIsBlocked": False,
                "IsMarkedForArchiving": False,
                "CreatedByUser": user,
                "CreationDate": _sap_date(created),
                "CreationTime": _sap_time(created),
                "LastChangedByUser": rng.choice(_SAP_USERS) if changed else "",
                "LastChangeDate": _sap_date(modified) if changed else None,
                "LastChangeTime": _sap_time(modified) if changed else "PT00H00M00S",
            }
        )
        if rng.random() < 0.05:  # legacy migration: house number left inside the street
            street, house = _cut(self._street_variant(rng, c).replace("\n", " "), 60), ""
        elif country.iso == "FR":
            street, house = c.street[:1].upper() + c.street[1:], c.house
        else:
            street, house = c.street, c.house
        region = country.regions[c.region][0] if c.region >= 0 and rng.random() > 0.1 else ""
        sets["A_BusinessPartnerAddress"].append(
            {
                "BusinessPartner": bp,
                "AddressID": address_id,
                "ValidityStartDate": _sap_timestamp(created - created % _DAY),
                "ValidityEndDate": _SAP_END_OF_TIME_TS,
                "AddressUUID": _guid(rng),
                "AddressTimeZone": country.time_zone,
                "CityName": c.city,
                "Country": country.iso,
                "FullName": full,
                "HouseNumber": house,
                "Language": country.language,
                "PostalCode": ""
                if self.hard and rng.random() < 0.04
                else self._postal_variant(rng, c, crm=False),
                "Region": region,
                "StreetName": street,
            }
        )
        if rng.random() > (0.2 if dup else 0.1):
            national = (
                f"{c.phone_area}-{c.phone_sub[:3]}-{c.phone_sub[3:]}"
                if country.phone_cc == "1"
                else f"{country.trunk}{c.phone_area} {c.phone_sub}"
            )
            sets["A_AddressPhoneNumber"].append(
                {
                    "AddressID": address_id,
                    "Person": "",
                    "OrdinalNumber": "1",
                    "DestinationLocationCountry": country.iso,
                    "IsDefaultPhoneNumber": True,
                    "PhoneNumber": national,
                    "PhoneNumberExtension": "",
                    "InternationalPhoneNumber": f"+{country.phone_cc}{c.phone_area}{c.phone_sub}",
                    "PhoneNumberType": "1",
                }
            )
        if rng.random() > 0.15:
            locals_ = _EMAIL_LOCALS["DE" if country.language == "DE" else "EN"]
            domain = c.domain if rng.random() > 0.05 else f"{c.domain.split('.')[0]}-group.com"
            email = f"{rng.choice(locals_)}@{domain}"
            sets["A_AddressEmailAddress"].append(
                {
                    "AddressID": address_id,
                    "Person": "",
                    "OrdinalNumber": "1",
                    "IsDefaultEmailAddress": True,
                    "EmailAddress": email,
                    "SearchEmailAddress": _cut(email.upper(), 20),
                }
            )
        for role in ("FLCU00", "FLCU01") if rng.random() < 0.9 else ("FLCU00",):
            sets["A_BusinessPartnerRole"].append(
                {
                    "BusinessPartner": bp,
                    "BusinessPartnerRole": role,
                    "ValidFrom": _sap_timestamp(created),
                    "ValidTo": _SAP_END_OF_TIME_TS,
                }
            )
        vat = None
        if c.vat and rng.random() > (0.25 if dup else 0.1) + (0.12 if self.hard else 0.0):
            vat = self._vat_variant(rng, c.vat, crm=False)
            sets["A_BusinessPartnerTaxNumber"].append(
                {
                    "BusinessPartner": bp,
                    "BPTaxType": country.tax_type,
                    "BPTaxNumber": vat,
                    "BPTaxLongNumber": "",
                }
            )
        blocked = rng.random() < 0.02
        sets["A_Customer"].append(
            {
                "Customer": customer,
                "CustomerName": _cut(name, 80),
                "CustomerFullName": _cut(name, 220),
                "CustomerAccountGroup": "CUST",
                "CreatedByUser": user,
                "CreationDate": _sap_date(created),
                "OrderIsBlockedForCustomer": "01" if blocked else "",
                "DeliveryIsBlocked": "",
                "BillingIsBlockedForCustomer": "",
                "PostingIsBlocked": False,
                "DeletionIndicator": False,
                "VATRegistration": vat if vat and country.iso != "US" and rng.random() < 0.6 else "",
            }
        )
        areas: list[tuple[str, str, random.Random]] = [(country.sales_org, country.currency, rng)]
        if rng.random() < 0.1:
            extra = "1710" if country.sales_org != "1710" else "1010"
            areas.append((extra, "USD" if extra == "1710" else "EUR", rng))
        # Most customers abroad are extended to the euro sales organisation too, which the CRM's orders
        # go to; the others are not, and SD refuses them there (a stream of its own: the rest of the
        # seed stays as it was).
        if all(area[0] != "1010" for area in areas) and self._area_rng.random() < 0.8:
            areas.append(("1010", "EUR", self._area_rng))
        terms = rng.choice(_PAYMENT_TERMS)
        self.partner_info[bp] = (areas[0][0], areas[0][1], terms)
        for sales_org, currency, pick in areas:
            sets["A_CustomerSalesArea"].append(
                {
                    "Customer": customer,
                    "SalesOrganization": sales_org,
                    "DistributionChannel": "10",
                    "Division": "00",
                    "Currency": currency,
                    "CustomerPaymentTerms": terms,
                    "CustomerPricingProcedure": "01",
                    "CustomerGroup": "01",
                    "CustomerAccountAssignmentGroup": "01",
                    "DeliveryPriority": "02",
                    "ShippingCondition": "01",
                    "IncotermsClassification": (inco := pick.choice(_INCOTERMS)),
                    "IncotermsLocation1": _cut(c.city, 70) if inco != "EXW" else "Walldorf",
                    "OrderIsBlockedForCustomer": "01" if blocked else "",
                    "DeletionIndicator": False,
                    "PartialDeliveryIsAllowed": "",
                }
            )

    # ---- hard cases: different companies that look alike
    def hard_cases(self, companies: list[_Company], rng: random.Random) -> dict[str, int]:
        """Turn a share of the companies into groups of look-alikes, each still its own company (its own
        truth entry): sister companies at one address with other legal forms and their own tax ids, often
        one switchboard and domain; branches and subsidiaries with an extra word; firms of one family, or
        of two families whose names share the rest ('Hartmann Crystal Robotics', 'Hofmann
        CrystalRobotics'); franchises of one brand in many cities. Returns the number of groups per kind."""
        kinds = (("sisters", 30), ("branches", 25), ("family", 30), ("franchise", 15))
        target = round(len(companies) * self.o.hard_cases)
        order = list(range(len(companies)))
        rng.shuffle(order)
        counts = {kind: 0 for kind, _ in kinds}
        used = 0
        position = 0
        while used < target and position < len(order) - 1:
            kind = self._weighted(rng, kinds)
            head = companies[order[position]]
            size = {
                "sisters": rng.choice((2, 2, 2, 3)),
                "branches": rng.choice((2, 2, 3, 4)),
                "family": rng.choice((2, 2, 3, 3, 4)),
                "franchise": rng.choice((3, 4, 5, 6, 8)),
            }[kind]
            if kind == "sisters":
                size = min(size, len(head.country.legal_forms))
            members = [companies[i] for i in order[position + 1 : position + size]]
            position += size
            if not members:
                break
            getattr(self, f"_{kind}")(rng, head, members)
            for c in (head, *members):
                c.group = f"{kind}-{counts[kind] + 1}"
            counts[kind] += 1
            used += 1 + len(members)
        return counts

    def _sibling(self, head: _Company, c: _Company) -> None:
        """Move ``c`` into ``head``'s country: its own legal form, tax id, phone and place there."""
        if c.country.iso == head.country.iso:
            return
        rng = _Rng(f"{self.o.seed}-move-{c.entity_id}")
        moved = self._company(rng, c.entity_id, head.country, "both", set())
        for name in (
            "country",
            "legal",
            "street",
            "house",
            "postal",
            "city",
            "region",
            "vat",
            "phone_area",
            "phone_sub",
            "slug",
            "domain",
        ):
            setattr(c, name, getattr(moved, name))

    def _other_legal(self, rng: random.Random, country: _Country, taken: set[str]) -> tuple:
        free = [lf for lf in country.legal_forms if lf[0] not in taken]
        return rng.choice(free) if free else rng.choice(country.legal_forms)

    def _sisters(self, rng: random.Random, head: _Company, members: list[_Company]) -> None:
        taken = {head.legal[0]}
        words = _GROUP_WORDS[head.country.language]
        for c in members:
            self._sibling(head, c)
            c.core = head.core if rng.random() < 0.7 else f"{head.core} {rng.choice(words)}"
            c.legal = self._other_legal(rng, head.country, taken)
            taken.add(c.legal[0])
            c.street, c.house, c.postal, c.city, c.region = (
                head.street,
                head.house,
                head.postal,
                head.city,
                head.region,
            )
            if rng.random() < 0.7:  # the group's switchboard
                c.phone_area, c.phone_sub = head.phone_area, head.phone_sub
            if rng.random() < 0.7:
                c.domain = head.domain
            c.slug = _ascii_slug(c.core)

    def _branches(self, rng: random.Random, head: _Company, members: list[_Company]) -> None:
        words = [*_REGION_WORDS[head.country.language], *_GROUP_WORDS[head.country.language]]
        rng.shuffle(words)
        for c, word in zip(members, words, strict=False):
            self._sibling(head, c)
            c.core = f"{head.core} {word}"
            if rng.random() < 0.5:
                c.legal = head.legal
            if rng.random() < 0.5:  # same city, another street
                c.city, c.region = head.city, head.region
                c.postal = head.postal if rng.random() < 0.6 else c.postal
            if rng.random() < 0.6:
                c.domain = head.domain
            c.slug = _ascii_slug(c.core)

    def _family(self, rng: random.Random, head: _Company, members: list[_Company]) -> None:
        pools = self.pools[head.country.iso]
        family = rng.choice(pools.last_names)
        rest = f"{rng.choice(_PREFIXES)} {rng.choice(_SECTORS[head.country.language])}"
        head.core = f"{family} {rest}"
        head.slug = _ascii_slug(head.core)
        head.domain = f"{head.slug}.{head.domain.rsplit('.', 1)[-1]}"
        for c in members:
            self._sibling(head, c)
            p = rng.random()
            if p < 0.4:  # a similar family name, the same rest
                other = _similar_name(rng, family)
                c.core = f"{other} {rest.replace(' ', '') if rng.random() < 0.3 else rest}"
            elif p < 0.75:  # another family, the same rest
                c.core = (
                    f"{rng.choice(pools.last_names)} {rest.replace(' ', '') if rng.random() < 0.3 else rest}"
                )
            else:  # the same family, another trade
                c.core = f"{family} {rng.choice(_SECTORS[head.country.language])}"
            if c.core == head.core:
                c.core = f"{family} {rest} {rng.choice(_GROUP_WORDS[head.country.language])}"
            if rng.random() < 0.6:
                c.city, c.region = head.city, head.region
                c.postal = head.postal if rng.random() < 0.5 else c.postal
            c.slug = _ascii_slug(c.core)
            c.domain = f"{c.slug}.{c.domain.rsplit('.', 1)[-1]}"

    def _franchise(self, rng: random.Random, head: _Company, members: list[_Company]) -> None:
        pools = self.pools[head.country.iso]
        brand = f"{rng.choice(_FRANCHISE_WORDS[head.country.language])} {rng.choice(pools.last_names)}"
        hotline = (head.phone_area, head.phone_sub) if rng.random() < 0.3 else None
        brand_domain = f"{_ascii_slug(brand)}.{head.domain.rsplit('.', 1)[-1]}"
        for c in [head, *members]:
            self._sibling(head, c)
            c.core = f"{brand} {c.city}"
            c.slug = _ascii_slug(c.core)
            c.domain = brand_domain if rng.random() < 0.5 else f"{c.slug}.{c.domain.rsplit('.', 1)[-1]}"
            if hotline:
                c.phone_area, c.phone_sub = hotline

    def link_accounts(self, companies: list[_Company], accounts: list[dict], rng: random.Random) -> None:
        """Some CRM accounts were linked to their SAP customer by hand, sometimes in the padded form."""
        by_id = {a["Id"]: a for a in accounts}
        for c in companies:
            if not (c.sf_ids and c.sap_ids):
                continue
            for sf_id in c.sf_ids:
                if rng.random() < 0.25:
                    number = self.customer_of[rng.choice(c.sap_ids)]  # the number on SAP's invoices
                    padded = rng.random() >= 0.8  # as shown in SAP GUI, with leading zeros
                    by_id[sf_id]["SAP_Customer_Number__c"] = number.zfill(10) if padded else number

    # ---- products and prices
    def products(self, rng: random.Random) -> None:
        n = self.o.products
        sap: dict[str, list[dict]] = {
            s: [] for s in ("A_Product", "A_ProductDescription", "A_ProductSales", "A_ProductSalesDelivery")
        }
        pricing: dict[str, list[dict]] = {"A_SlsPrcgConditionRecord": [], "A_SlsPrcgCndnRecdValidity": []}
        self.product_info: list[dict[str, Any]] = []
        names_seen: set[str] = set()
        record_no = 0
        for i in range(n):
            product = f"TG-{1001 + i}"
            kind = rng.choices(("FERT", "HAWA", "DIEN"), (50, 40, 10))[0]
            if kind == "DIEN":
                en, de = rng.choice(_SERVICES)
                unit = "H"
            else:
                adj_en, adj_de = rng.choice(_PRODUCT_ADJECTIVES)
                noun_en, noun_de = rng.choice(_PRODUCT_NOUNS)
                en, de = f"{adj_en} {noun_en}", f"{adj_de}{noun_de.lower()}"
                unit = rng.choices(("PC", "EA", "KG", "M", "L"), (60, 15, 10, 10, 5))[0]
            model = f"{rng.choice('ABCDHKMRSX')}{rng.choice('ABXZ')}-{rng.randint(1, 99) * 10}"
            en, de = f"{en} {model}", f"{de} {model}"
            if en in names_seen:
                en, de = f"{en}/{i}", f"{de}/{i}"
            names_seen.add(en)
            created, modified = self._stamps(rng, 1500)
            deleted = rng.random() < 0.04
            group = {"FERT": "P00", "HAWA": "L00", "DIEN": "S00"}[kind] + str(rng.randint(1, 5))
            sap["A_Product"].append(
                {
                    "Product": product,
                    "ProductType": kind,
                    "CrossPlantStatus": "02" if rng.random() < 0.04 else "",
                    "CreationDate": _sap_date(created),
                    "CreatedByUser": rng.choice(_SAP_USERS),
                    "LastChangeDate": _sap_date(modified),
                    "LastChangedByUser": rng.choice(_SAP_USERS),
                    "LastChangeDateTime": _sap_timestamp(modified),
                    "IsMarkedForDeletion": deleted,
                    "ProductGroup": group,
                    "BaseUnit": unit,
                    "Division": "00",
                    "ItemCategoryGroup": "LEIS" if kind == "DIEN" else "NORM",
                    "IndustrySector": "M",
                    "GrossWeight": _dec(0 if kind == "DIEN" else rng.uniform(0.1, 40), 3),
                    "NetWeight": _dec(0, 3),
                    "WeightUnit": "" if kind == "DIEN" else "KG",
                }
            )
            sap["A_Product"][-1]["NetWeight"] = _dec(float(sap["A_Product"][-1]["GrossWeight"]) * 0.9, 3)
            sap["A_ProductDescription"].append(
                {"Product": product, "Language": "EN", "ProductDescription": en}
            )
            if rng.random() < 0.85:
                sap["A_ProductDescription"].append(
                    {"Product": product, "Language": "DE", "ProductDescription": _cut(de, 40)}
                )
            sap["A_ProductSales"].append(
                {
                    "Product": product,
                    "SalesStatus": "" if not deleted else "03",
                    "TaxClassification": "1",
                    "TransportationGroup": "0001",
                }
            )
            price_eur = round(rng.uniform(20, 80) if kind == "DIEN" else rng.lognormvariate(4.5, 1.1) + 5, 2)
            prices: dict[str, float] = {}
            for currency, sales_org in _SALES_ORGS.items():
                if currency != "EUR" and rng.random() < (0.2 if currency != "USD" else 0.75):
                    continue
                sap["A_ProductSalesDelivery"].append(
                    {
                        "Product": product,
                        "ProductSalesOrg": sales_org,
                        "ProductDistributionChnl": "10",
                        "ItemCategoryGroup": sap["A_Product"][-1]["ItemCategoryGroup"],
                        "SalesMeasureUnit": unit,
                        "ProductSalesStatus": "",
                        "SupplyingPlant": sales_org,
                        "IsMarkedForDeletion": False,
                    }
                )
                price = round(price_eur * _FX[currency], 2)
                prices[currency] = price
                windows = []
                start = _REF - rng.randint(30, 300) * _DAY
                if rng.random() < 0.3:  # an expired price before the current one
                    earlier = start - rng.randint(120, 400) * _DAY
                    windows.append((earlier, start - _DAY, round(price * 0.93, 2)))
                if rng.random() < 0.1:  # a price that starts in the future ends the current one
                    future = _REF + rng.randint(10, 90) * _DAY
                    windows.append((start, future - _DAY, price))
                    windows.append((future, None, round(price * 1.05, 2)))
                else:
                    windows.append((start, None, price))
                for valid_from, valid_to, rate in windows:
                    record_no += 1
                    cond = f"{record_no:010d}"
                    end = _sap_date(valid_to) if valid_to is not None else _SAP_END_OF_TIME_DATE
                    pricing["A_SlsPrcgConditionRecord"].append(
                        {
                            "ConditionRecord": cond,
                            "ConditionSequentialNumber": "01",
                            "ConditionTable": "304",
                            "ConditionApplication": "V",
                            "ConditionType": "PR00",
                            "ConditionValidityStartDate": _sap_date(valid_from),
                            "ConditionValidityEndDate": end,
                            "CreatedByUser": rng.choice(_SAP_USERS),
                            "CreationDate": _sap_date(valid_from - 5 * _DAY),
                            "ConditionCalculationType": "C",
                            "ConditionRateValue": _dec(rate, 3),
                            "ConditionRateValueUnit": currency,
                            "ConditionQuantity": "1",
                            "ConditionQuantityUnit": unit,
                            "ConditionToBaseQtyNmrtr": "1",
                            "ConditionToBaseQtyDnmntr": "1",
                            "BaseUnit": unit,
                            "ConditionIsDeleted": False,
                            "ConditionReleaseStatus": "",
                        }
                    )
                    pricing["A_SlsPrcgCndnRecdValidity"].append(
                        {
                            "ConditionRecord": cond,
                            "ConditionValidityEndDate": end,
                            "ConditionValidityStartDate": _sap_date(valid_from),
                            "ConditionApplication": "V",
                            "ConditionType": "PR00",
                            "SalesOrganization": sales_org,
                            "DistributionChannel": "10",
                            "Material": product,
                            "Customer": "",
                            "Division": "",
                        }
                    )
            self.product_info.append(
                {
                    "product": product,
                    "kind": kind,
                    "en": en,
                    "de": de,
                    "unit": unit,
                    "deleted": deleted,
                    "prices": prices,
                    "created": created,
                    "modified": modified,
                    "sf_ids": [],
                }
            )
        self.data.sap[PRODUCT_SERVICE] = sap
        self.data.sap[PRICING_SERVICE] = pricing

    def crm_products(self, rng: random.Random) -> None:
        """Product2 copies of most SAP products, a few CRM-only products, the standard price book."""
        std_id = make_id("01s", 1)
        self.standard_pricebook = std_id
        stamp = _sf_datetime(_REF - 1200 * _DAY)
        self.data.salesforce["Pricebook2"] = [
            {
                "Id": std_id,
                "IsDeleted": False,
                "Name": "Standard Price Book",
                "IsActive": True,
                "IsArchived": False,
                "IsStandard": True,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
            }
        ]
        rows: list[tuple[dict[str, Any] | None, str, str, float, bool]] = []  # (info, code, name, price, dup)
        for info in self.product_info:
            if rng.random() < 0.85:
                name = info["en"] if rng.random() > 0.1 else rng.choice((info["de"], info["en"].upper()))
                code = info["product"] if rng.random() > 0.03 else info["product"].replace("-", " ").lower()
                rows.append((info, code, name, info["prices"]["EUR"], False))
        copies = list(rows)
        for _ in range(round(len(copies) * 0.03)):
            info, code, name, price, _dup = rng.choice(copies)
            rows.append((info, code, self._typo(rng, name), price, True))
        for k in range(max(1, self.o.products // 25) if self.o.products else 0):
            service = ("Consulting Hour", "Onboarding Package", "Premium Support", "Remote Training")[k % 4]
            price = round(rng.uniform(90, 900), 2)
            rows.append((None, f"SVC-{k + 1:03d}", f"{service} {k + 1}", price, False))
        rng.shuffle(rows)
        products, entries = [], []
        self.crm_only_products: list[str] = []
        self.entries: list[tuple[str, str, float, dict[str, Any] | None]] = []  # (entry Id, product Id, ...)
        for number, (info, code, name, price, dup) in enumerate(rows, start=1):
            pid = make_id("01t", number)
            created, modified = self._stamps(rng, 1000)
            unit = info["unit"] if info else "H"
            active = not info["deleted"] if info else True
            if info and info["deleted"] and rng.random() < 0.5:
                active = True  # the CRM copy missed the deletion flag
            products.append(
                {
                    "Id": pid,
                    "Name": name,
                    "ProductCode": code,
                    "IsActive": active,
                    "Family": _TYPE_TO_FAMILY[info["kind"]] if info else "Services",
                    "QuantityUnitOfMeasure": _UNIT_TO_SF[unit],
                    "IsDeleted": False,
                    "IsArchived": False,
                    "Description": info["de"] if info and rng.random() < 0.2 else None,
                    "CreatedDate": _sf_datetime(created),
                    "LastModifiedDate": _sf_datetime(modified),
                    "SystemModstamp": _sf_datetime(modified),
                }
            )
            if products[-1]["Description"] is None:
                del products[-1]["Description"]
            if info:
                info["sf_ids"].append(pid)
            else:
                self.crm_only_products.append(pid)
            if dup:
                continue
            list_price = price if rng.random() > 0.1 else round(price * 0.95, 2)  # some stale list prices
            eid = make_id("01u", len(entries) + 1)
            entries.append(
                {
                    "Id": eid,
                    "Pricebook2Id": std_id,
                    "Product2Id": pid,
                    "UnitPrice": list_price,
                    "IsActive": active,
                    "UseStandardPrice": False,
                    "IsDeleted": False,
                    "IsArchived": False,
                    "CreatedDate": _sf_datetime(created),
                    "LastModifiedDate": _sf_datetime(modified),
                    "SystemModstamp": _sf_datetime(modified),
                }
            )
            self.entries.append((eid, pid, list_price, info))
        self.data.salesforce["Product2"] = products
        self.data.salesforce["PricebookEntry"] = entries

    # ---- contacts
    def contacts(
        self, accounts: list[dict], companies_by_sf: dict[str, _Company], rng: random.Random
    ) -> list[dict]:
        out = []
        for number in range(1, len(accounts) // 10 + 1):
            account = rng.choice(accounts)
            c = companies_by_sf[account["Id"]]
            pools = self.pools[c.country.iso]
            first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
            created, modified = self._stamps(rng)
            rec = {
                "Id": make_id("003", number),
                "IsDeleted": False,
                "AccountId": account["Id"],
                "FirstName": _cut(first, 40),
                "LastName": _cut(last, 80),
                "Name": _cut(f"{first} {last}", 121),
                "Salutation": rng.choice(("Mr.", "Ms.", "Dr.", "")) or None,
                "Title": rng.choice(_TITLES),
                "Email": f"{_ascii_slug(first)}.{_ascii_slug(last)}@{c.domain}".replace("-", ""),
                "Phone": self._phone_variant(rng, c),
                "MailingCity": c.city,
                "MailingCountry": self._weighted(rng, c.country.names),
                "CreatedDate": _sf_datetime(created),
                "LastModifiedDate": _sf_datetime(modified),
                "SystemModstamp": _sf_datetime(modified),
            }
            out.append({k: v for k, v in rec.items() if v is not None})
        return out

    # ---- orders
    def orders(self, accounts: list[dict], companies_by_sf: dict[str, _Company], rng: random.Random) -> None:
        n = self.o.orders
        sf_orders, sf_items, truth = [], [], []
        so_sets: dict[str, list[dict]] = {
            "A_SalesOrder": [],
            "A_SalesOrderItem": [],
            "A_SalesOrderHeaderPartner": [],
        }
        usable_entries = [e for e in self.entries if e[3] is None or not e[3]["deleted"]]
        # Products sold only in the CRM (no SAP product) appear in draft orders, never in activated ones:
        # an activated order must be deliverable, and SAP cannot deliver what it does not know.
        sap_entries = [e for e in usable_entries if e[3] is not None]
        item_no = 0
        sap_no = 0
        if not accounts or not usable_entries:
            n_sf = 0
        else:
            n_sf = n
        for number in range(1, n_sf + 1):
            account = rng.choice(accounts)
            c = companies_by_sf[account["Id"]]
            activated = rng.random() < 0.6
            effective = _REF - rng.randint(1, 90) * _DAY
            created = effective - rng.randint(0, 5) * _DAY + rng.randint(8 * 3600, 17 * 3600)
            modified = min(_REF - 60, created + rng.randint(0, 20) * _DAY)
            oid = make_id("801", number)
            order_number = f"{100 + number:08d}"
            entries = sap_entries if activated and sap_entries else usable_entries
            picks = rng.sample(entries, min(len(entries), rng.randint(1, 4)))
            total, lines = 0.0, []
            for eid, pid, price, info in picks:
                item_no += 1
                qty = float(rng.choice((1, 1, 2, 3, 5, 10, 12, 20, 25, 50)))
                lines.append((eid, pid, price, info, qty))
                total += qty * price
                sf_items.append(
                    {
                        "Id": make_id("802", item_no),
                        "IsDeleted": False,
                        "OrderId": oid,
                        "PricebookEntryId": eid,
                        "Product2Id": pid,
                        "Quantity": qty,
                        "UnitPrice": price,
                        "ListPrice": price,
                        "TotalPrice": round(qty * price, 2),
                        "OrderItemNumber": f"{item_no:010d}",
                        "CreatedDate": _sf_datetime(created),
                        "LastModifiedDate": _sf_datetime(modified),
                        "SystemModstamp": _sf_datetime(modified),
                    }
                )
            order: dict[str, Any] = {
                "Id": oid,
                "IsDeleted": False,
                "AccountId": account["Id"],
                "Pricebook2Id": self.standard_pricebook,
                "EffectiveDate": _iso_date(effective),
                # Labels unlike their category, as real orgs have (StatusCode holds the category).
                "Status": ("Booked" if number % 2 else "Activated")
                if activated
                else ("In Approval" if number % 3 == 0 else "Draft"),
                "StatusCode": "Activated" if activated else "Draft",
                "IsReductionOrder": False,
                "OrderNumber": order_number,
                "TotalAmount": round(total, 2),
                "PoNumber": f"PO-{rng.randint(10000, 99999)}" if rng.random() < 0.6 else None,
                "BillingStreet": account.get("BillingStreet"),
                "BillingCity": account.get("BillingCity"),
                "BillingPostalCode": account.get("BillingPostalCode"),
                "BillingCountry": account.get("BillingCountry"),
                "CreatedDate": _sf_datetime(created),
                "LastModifiedDate": _sf_datetime(modified),
                "SystemModstamp": _sf_datetime(modified),
            }
            sap_order = None
            if activated and c.sap_ids and all(line[3] is not None for line in lines) and rng.random() < 0.5:
                sap_no += 1
                sap_order = str(sap_no)
                status = rng.choice(("A", "B", "C"))
                self._sales_order(
                    rng,
                    so_sets,
                    sap_order,
                    rng.choice(c.sap_ids),
                    created,
                    [(line[3], line[4]) for line in lines],
                    order.get("PoNumber") or order_number,
                    status,
                )
                order["SAP_Order_Number__c"] = sap_order
                order["SAP_Order_Status__c"] = _SAP_STATUS_TEXT[status]
                order["SAP_Delivery_Status__c"] = _SAP_STATUS_TEXT[status]
                order["SAP_Billing_Status__c"] = _SAP_STATUS_TEXT["A" if status != "C" else "C"]
            sf_orders.append({k: v for k, v in order.items() if v is not None})
            truth.append({"salesforce": oid, "sap": sap_order})
        live_products = [p for p in self.product_info if not p["deleted"]]
        partners = [bp for bp in self.partner_info]
        while sap_no < n and partners and live_products:  # orders entered in SAP directly
            sap_no += 1
            created = _REF - rng.randint(1, 120) * _DAY + rng.randint(8 * 3600, 17 * 3600)
            lines = [(rng.choice(live_products), float(rng.randint(1, 40))) for _ in range(rng.randint(1, 3))]
            self._sales_order(
                rng,
                so_sets,
                str(sap_no),
                rng.choice(partners),
                created,
                lines,
                f"{rng.randint(4500000000, 4599999999)}",
                rng.choice(("A", "B", "C")),
            )
            truth.append({"salesforce": None, "sap": str(sap_no)})
        self.data.salesforce["Order"] = sf_orders
        self.data.salesforce["OrderItem"] = sf_items
        self.data.sap[ORDER_SERVICE] = so_sets
        self.truth["orders"] = truth

    def _sales_order(
        self,
        rng: random.Random,
        sets: dict[str, list[dict]],
        so: str,
        partner: str,
        created: int,
        lines: list[tuple[dict[str, Any], float]],
        po: str,
        status: str,
    ) -> None:
        sales_org, currency, terms = self.partner_info[partner]
        customer = self.customer_of[partner]  # orders name the customer, not the business partner
        modified = min(_REF - 60, created + rng.randint(0, 30) * _DAY)
        total = 0.0
        for position, (info, qty) in enumerate(lines, start=1):
            price = info["prices"].get(currency) or round(info["prices"]["EUR"] * _FX[currency], 2)
            net = round(price * qty, 2)
            total += net
            sets["A_SalesOrderItem"].append(
                {
                    "SalesOrder": so,
                    "SalesOrderItem": str(position * 10),
                    "HigherLevelItem": "",
                    "SalesOrderItemCategory": "TAD" if info["kind"] == "DIEN" else "TAN",
                    "SalesOrderItemText": _cut(info["en"], 40),
                    "Material": info["product"],
                    "RequestedQuantity": _dec(qty, 3),
                    "RequestedQuantityUnit": info["unit"],
                    "TransactionCurrency": currency,
                    "NetAmount": _dec(net, 3),
                    "MaterialGroup": "",
                    "PricingDate": _sap_date(created),
                    "SDProcessStatus": status,
                    "DeliveryStatus": status,
                    "OrderRelatedBillingStatus": "C" if status == "C" else "",
                }
            )
        sets["A_SalesOrder"].append(
            {
                "SalesOrder": so,
                "SalesOrderType": "OR",
                "SalesOrganization": sales_org,
                "DistributionChannel": "10",
                "OrganizationDivision": "00",
                "SoldToParty": customer,
                "CreationDate": _sap_date(created),
                "CreatedByUser": rng.choice(_SAP_USERS),
                "LastChangeDate": _sap_date(modified),
                "LastChangeDateTime": _sap_timestamp(modified),
                "PurchaseOrderByCustomer": _cut(po, 35),
                "SalesOrderDate": _sap_date(created),
                "TotalNetAmount": _dec(total, 3),
                "TransactionCurrency": currency,
                "PricingDate": _sap_date(created),
                "RequestedDeliveryDate": _sap_date(created + rng.randint(7, 30) * _DAY),
                "CustomerPaymentTerms": terms,
                "IncotermsClassification": "EXW",
                "IncotermsLocation1": "Walldorf",
                "OverallSDProcessStatus": status,
                "OverallDeliveryStatus": status,
                "OverallTotalDeliveryStatus": status,
                "OverallOrdReltdBillgStatus": "C" if status == "C" else "",
                "OverallSDDocumentRejectionSts": "A",
                "TotalBlockStatus": "",
                "TotalCreditCheckStatus": "",
            }
        )
        for function in ("AG", "WE"):  # sold-to and ship-to party
            sets["A_SalesOrderHeaderPartner"].append(
                {"SalesOrder": so, "PartnerFunction": function, "Customer": customer}
            )


def generate(options: SeedOptions) -> tuple[SandboxData, dict]:
    """Both systems' records and the truth about which records are the same company, product or order."""
    if options.customers < 0 or options.products < 0 or options.orders < 0:
        raise ValueError("customers, products and orders must not be negative")
    if not 0.0 <= options.overlap <= 1.0 or not 0.0 <= options.duplicate_rate < 1.0:
        raise ValueError("overlap must be in [0, 1] and duplicate_rate in [0, 1)")
    if not 0.0 <= options.hard_cases <= 0.9:
        raise ValueError("hard_cases must be in [0, 0.9]")
    gen = _Generator(options)
    companies = gen.companies()
    if options.hard_cases > 0:
        groups = gen.hard_cases(companies, _Rng(f"{options.seed}-hard"))
        gen.truth["hard_cases"] = groups
    accounts = gen.accounts(companies, _Rng(f"{options.seed}-accounts"))
    gen.data.sap[BP_SERVICE] = gen.partners(companies, _Rng(f"{options.seed}-partners"))
    gen.link_accounts(companies, accounts, _Rng(f"{options.seed}-links"))
    gen.data.salesforce["Account"] = accounts
    gen.products(_Rng(f"{options.seed}-products"))
    gen.crm_products(_Rng(f"{options.seed}-crm-products"))
    by_sf = {sf_id: c for c in companies for sf_id in c.sf_ids}
    gen.data.salesforce["Contact"] = gen.contacts(accounts, by_sf, _Rng(f"{options.seed}-contacts"))
    gen.orders(accounts, by_sf, _Rng(f"{options.seed}-orders"))
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

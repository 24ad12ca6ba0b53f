"""Reference tables of the seed: countries with their legal forms, tax ids, phone and address habits, and the
word pools for streets, titles, industries and products."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.salesforce.schema import PICKLISTS

# --- reference tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Country:
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


COUNTRIES: tuple[Country, ...] = (
    Country(
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
    Country(
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
    Country(
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
    Country(
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
    Country(
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
    Country(
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
    Country(
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
    Country(
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
    Country(
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
_BY_ISO = {c.iso: c for c in COUNTRIES}

SECTORS: dict[str, tuple[str, ...]] = {
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
AND_WORDS = {"DE": " und ", "EN": " and ", "FR": " et ", "NL": " en ", "IT": " e ", "ES": " y "}
PREFIXES = (
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
ABBREVIATIONS = (
    (" International", (" Intl", " Int'l", " Intl.")),
    (" Technologies", (" Tech", " Technology")),
    (" Manufacturing", (" Mfg", " Mfg.")),
    (" Engineering", (" Eng.", " Engg")),
    (" Industries", (" Ind.", " Industry")),
    (" Systems", (" Sys.", " System")),
    (" Services", (" Svcs", " Service")),
)
TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})

DE_STREET_BASES = (
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
EN_STREET_BASES = (
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
EN_STREET_TYPES = (
    ("Street", ("St", "St.")),
    ("Avenue", ("Ave", "Ave.")),
    ("Road", ("Rd", "Rd.")),
    ("Drive", ("Dr", "Dr.")),
    ("Lane", ("Ln",)),
    ("Boulevard", ("Blvd", "Blvd.")),
    ("Court", ("Ct",)),
    ("Way", ("Way",)),
)
EN_STREET_ABBREV = {long: short for long, short in EN_STREET_TYPES}
STREET_ABBREV: dict[str, tuple[tuple[str, str], ...]] = {
    "DE": (("straße", "str."), ("Straße", "Str."), ("straße", "strasse")),
    "AT": (("straße", "str."), ("gasse", "g."), ("straße", "strasse")),
    "CH": (("strasse", "str."),),
    "NL": (("straat", "str."), ("weg", "wg.")),
    "FR": (("avenue", "av."), ("boulevard", "bd"), ("rue", "Rue")),
    "IT": (("Via", "V."), ("Piazza", "P.zza"), ("Viale", "V.le")),
    "ES": (("Calle", "C/"), ("Avenida", "Avda."), ("Paseo", "Pº"), ("Plaza", "Pza.")),
}
WEB_FORMS = ("www.{d}", "http://www.{d}", "https://www.{d}", "https://{d}", "{d}", "www.{d}/", "WWW.{d}")
EMAIL_LOCALS = {
    "DE": ("info", "kontakt", "vertrieb", "office", "buchhaltung"),
    "EN": ("info", "sales", "contact", "office", "accounts"),
}
PAYMENT_TERMS = ("0001", "0002", "0004", "NT30", "NT60")
INCOTERMS = ("EXW", "FCA", "DAP", "DDP", "CPT")
TITLES = (
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
INDUSTRIES = [v for v in PICKLISTS[("Account", "Industry")][0] if v != "Other"]
ACCOUNT_SOURCES = PICKLISTS[("Account", "AccountSource")][0]

# Products: (EN, DE) word pairs. German compounds join prefix and lower-cased noun.
PRODUCT_NOUNS = (
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
PRODUCT_ADJECTIVES = (
    ("Hydraulic", "Hydraulik"),
    ("Electric", "Elektro"),
    ("Stainless", "Edelstahl"),
    ("Industrial", "Industrie"),
    ("Compact", "Kompakt"),
    ("Heavy-Duty", "Schwerlast"),
    ("Precision", "Präzisions"),
    ("Pneumatic", "Pneumatik"),
)
SERVICES = (
    ("Installation Service", "Installationsservice"),
    ("Maintenance Visit", "Wartungseinsatz"),
    ("Commissioning", "Inbetriebnahme"),
    ("Operator Training", "Bedienerschulung"),
    ("Repair Service", "Reparaturservice"),
)
UNIT_TO_SF = {"PC": "Piece", "EA": "Each", "KG": "Kilogram", "M": "Meter", "L": "Liter", "H": "Hour"}
TYPE_TO_FAMILY = {"FERT": "Hardware", "HAWA": "Spare Parts", "DIEN": "Services"}
SALES_ORGS = {"EUR": "1010", "CHF": "1210", "GBP": "1510", "USD": "1710"}
FX = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "CHF": 0.95}
SAP_STATUS_TEXT = {"A": "Open", "B": "In Process", "C": "Completed"}
SAP_USERS = ("CB9980000011", "CB9980000023", "MIGRATION", "SYNCADMIN", "BATCH_JOB")

"""The real world the seed renders: name, street and city pools per locale, the companies themselves, and the
helpers the look-alike groups draw from."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from faker import Faker
from stdnum import luhn, vatin
from stdnum.at import uid as at_uid
from stdnum.ch import uid as ch_uid
from stdnum.iso7064 import mod_11_10
from stdnum.us import ein as us_ein

from sandbox.datadir import SandboxData
from sandbox.seed.common import DAY, REF_TIME, REFERENCE_DATE, Rng, SeedOptions, clip
from sandbox.seed.tables import (
    COUNTRIES,
    DE_STREET_BASES,
    EN_STREET_BASES,
    EN_STREET_TYPES,
    INDUSTRIES,
    PREFIXES,
    SECTORS,
    TRANSLIT,
    Country,
)


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.translate(TRANSLIT)).encode("ascii", "ignore").decode()
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
class Company:
    entity_id: str
    country: Country
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


def _build_pools(seed: int, country: Country) -> _Pools:
    fake = Faker(country.locale)
    fake.seed_instance(seed)
    for provider in fake.get_providers():
        # it_IT builds its city list from a set, so its order (and the cities drawn) would follow the
        # process's string hash seed; a sorted copy on this instance makes the draw reproducible.
        if isinstance(getattr(provider, "cities", None), list):
            provider.cities = sorted(provider.cities)
    rng = Rng(f"{seed}-pools-{country.iso}")
    last = sorted({fake.last_name() for _ in range(500)})
    first = sorted({fake.first_name() for _ in range(250)})
    places: list[tuple[str, str, int]] = []
    for _ in range(400):
        city = clip(fake.city(), 40)
        postal = fake.zipcode() if country.iso == "US" else fake.postcode()
        if country.iso == "NL":
            postal = postal.replace(" ", "")
            postal = f"{postal[:4]} {postal[4:]}"
        region = rng.randrange(len(country.regions)) if country.regions else -1
        places.append((city, postal, region))
    streets: list[str] = []
    for _ in range(400):
        if country.iso in ("DE", "AT"):
            base = rng.choice(DE_STREET_BASES) if rng.random() < 0.5 else rng.choice(last)
            suffixes = ("straße", "weg", "allee", "ring", "platz", "gasse")
            suffix = rng.choices(suffixes, (55, 15, 10, 8, 6, 6))[0]
            street = f"{base}{suffix}" if " " not in base and "-" not in base else f"{base}-{suffix.title()}"
        elif country.iso == "CH":
            base = rng.choice(DE_STREET_BASES) if rng.random() < 0.5 else rng.choice(last)
            street = f"{base}{rng.choices(('strasse', 'weg', 'gasse', 'platz'), (70, 15, 10, 5))[0]}"
        elif country.iso in ("US", "GB"):
            base = rng.choice(EN_STREET_BASES) if rng.random() < 0.5 else rng.choice(last)
            street = f"{base} {rng.choices(EN_STREET_TYPES, (40, 15, 15, 10, 6, 5, 5, 4))[0][0]}"
        else:
            street = fake.street_name()
        streets.append(clip(street, 50))
    return _Pools(last, first, places, streets)


# --- hard cases ----------------------------------------------------------------------------------------

# Words that tell group companies apart ("Brandt Logistik Verwaltungs GmbH", "X Foods Oost B.V.").
GROUP_WORDS = {
    "DE": ("Verwaltungs", "Holding", "Beteiligungs", "Service", "Vertrieb", "Digital", "Immobilien"),
    "EN": ("Holdings", "Services", "Digital", "Europe", "Property", "Trading", "Group"),
    "FR": ("Holding", "Services", "Digital", "Distribution", "Immobilier"),
    "NL": ("Holding", "Services", "Digital", "Vastgoed", "Beheer"),
    "IT": ("Holding", "Servizi", "Digital", "Immobiliare", "Distribuzione"),
    "ES": ("Holding", "Servicios", "Digital", "Inmobiliaria", "Distribución"),
}
REGION_WORDS = {
    "DE": ("Nord", "Süd", "Ost", "West", "Mitte", "Bayern", "Sachsen"),
    "EN": ("North", "South", "East", "West", "Midlands", "Scotland"),
    "FR": ("Nord", "Sud", "Est", "Ouest", "Île-de-France"),
    "NL": ("Noord", "Zuid", "Oost", "West", "Brabant"),
    "IT": ("Nord", "Sud", "Est", "Ovest", "Lombardia"),
    "ES": ("Norte", "Sur", "Este", "Oeste", "Levante"),
}
FRANCHISE_WORDS = {
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


def similar_name(rng: random.Random, name: str) -> str:
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


def digit_typo(rng: random.Random, text: str) -> str:
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits:
        return text
    i = rng.choice(digits)
    return text[:i] + str((int(text[i]) + rng.randint(1, 9)) % 10) + text[i + 1 :]


def _valid_vat(rng: random.Random, c: Country) -> str:
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


class WorldBase:
    """Holds the random streams and pools and draws the companies; the other parts of the generator are
    mixins over it, each rendering one part of the data."""

    """Holds the random streams and pools; each ``*_records`` method renders one part of the data."""

    def __init__(self, options: SeedOptions):
        self.o = options
        self.hard = options.hard_cases > 0
        self.pools = {c.iso: _build_pools(options.seed, c) for c in COUNTRIES}
        if self.hard:
            for iso, pools in self.pools.items():
                _crowd(pools, Rng(f"{options.seed}-crowd-{iso}"))
        self.country_weights = [c.weight for c in COUNTRIES]
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
        created = REF_TIME - rng.randint(7 * DAY, max_age_days * DAY)
        modified = max(created + rng.randint(0, 3600), REF_TIME - rng.randint(3600, 70 * DAY))
        return created, min(modified, REF_TIME - 60)

    # ---- companies
    def companies(self) -> list[Company]:
        rng = Rng(f"{self.o.seed}-companies")
        n = self.o.customers
        dup_sf = dup_sap = min(n - 1, round(n * self.o.duplicate_rate)) if n > 1 else 0
        distinct_sf, distinct_sap = n - dup_sf, n - dup_sap
        o = self.o.overlap
        shared = min(distinct_sf, distinct_sap, round(o * (distinct_sf + distinct_sap) / (1 + o)))
        membership = ["both"] * shared + ["sf"] * (distinct_sf - shared) + ["sap"] * (distinct_sap - shared)
        rng.shuffle(membership)
        seen: set[tuple[str, str]] = set()
        out: list[Company] = []
        for number, where in enumerate(membership, start=1):
            country = rng.choices(COUNTRIES, self.country_weights)[0]
            out.append(self._company(rng, f"C{number:06d}", country, where, seen))
        self._dup_sf = dup_sf
        self._dup_sap = dup_sap
        return out

    def _core_name(self, rng: random.Random, country: Country) -> str:
        pools = self.pools[country.iso]
        last = rng.choice(pools.last_names)
        p = rng.random()
        if p < 0.30:
            return last
        if p < 0.50:
            return f"{last} & {rng.choice(pools.last_names)}"
        if p < 0.75:
            return f"{last} {rng.choice(SECTORS[country.language])}"
        if p < 0.90:
            return f"{rng.choice(PREFIXES)} {rng.choice(SECTORS[country.language])}"
        return f"{last} International"

    def _company(
        self, rng: random.Random, entity_id: str, country: Country, where: str, seen: set[tuple[str, str]]
    ) -> Company:
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
        slug = ascii_slug(core)
        tld = country.tld if rng.random() < 0.75 else "com"
        return Company(
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
            industry=rng.choice(INDUSTRIES) if rng.random() < 0.85 else None,
            employees=int(rng.lognormvariate(4.0, 1.3)) + 1,
            in_sf=where in ("both", "sf"),
            in_sap=where in ("both", "sap"),
            duns=_duns(self.o.seed, entity_id),
        )

    @staticmethod
    def _vat(rng: random.Random, c: Country) -> str:
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

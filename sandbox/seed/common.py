"""What every part of the seed shares: the reference date, service names, options, the random stream and
the value formats of both systems."""

from __future__ import annotations

import calendar
import random
import time
from dataclasses import dataclass

REFERENCE_DATE = "2026-11-01"
REF_TIME = calendar.timegm((2026, 11, 1, 0, 0, 0))
DAY = 86_400
# SAP's "unlimited" validity end: 9999-12-31 (date) and 9999-12-31T23:59:59 (timestamp).
SAP_END_OF_TIME_DATE = "/Date(253402214400000)/"
SAP_END_OF_TIME_TS = "/Date(253402300799000+0000)/"
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


class Rng(random.Random):
    """``random.Random`` with float-based ``randint``/``choice``: several times faster than the exact
    rejection sampling, still a pure function of the seed, and the bias (< 2**-40) is irrelevant here."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):  # type: ignore[override]
        return seq[int(self.random() * len(seq))]


# --- formatting --------------------------------------------------------------------------------------


def sf_datetime(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(t))


def iso_date(t: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def sap_date(t: int) -> str:
    return f"/Date({(t - t % DAY) * 1000})/"


def sap_time(t: int) -> str:
    s = t % DAY
    return f"PT{s // 3600:02d}H{s % 3600 // 60:02d}M{s % 60:02d}S"


def sap_timestamp(t: int) -> str:
    return f"/Date({t * 1000}+0000)/"


def dec(value: float, scale: int) -> str:
    return f"{value:.{scale}f}"


def guid(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``, so it is reproducible."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length].rstrip()

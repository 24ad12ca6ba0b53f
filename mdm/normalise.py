"""Text normalisation that a mapping's transforms (``mdm.transform``) and the match features
(``mdm.match.features``) share, so both read a postal code's country prefix, the noise around a VAT
number and accented letters the same way. What differs on purpose stays with each: the transforms keep
a value as a person writes it (``"D-12345"`` -> ``"12345"``, ``"Hauptstr."`` -> ``"Hauptstraße"``); the
features build comparison keys (no spaces, umlauts transliterated, legal forms dropped)."""

from __future__ import annotations

import re
import unicodedata

# "D-12345", "CH-8001", "F- 75001": the country prefix people write in front of a postal code.
POSTAL_COUNTRY_PREFIX = re.compile(r"^[A-Z]{1,3}-\s*(?=\d)")
# Words written around a VAT number: "CHE-123.456.789 MWST", "VAT GB123456789", "NL123 BTW".
VAT_NOISE_WORDS = ("MWST", "TVA", "IVA", "VAT", "UST", "BTW")
VAT_NOISE = re.compile(rf"\b(?:{'|'.join(VAT_NOISE_WORDS)})\b\.?", re.IGNORECASE)


def unaccent(text: str) -> str:
    """ASCII letters for accented ones (NFKD, marks dropped): 'Société' -> 'Societe'."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def without_postal_country_prefix(code: str) -> str:
    """An upper-case postal code without a 'D-' style country prefix."""
    return POSTAL_COUNTRY_PREFIX.sub("", code)


def without_vat_noise(text: str) -> str:
    """A tax number's text without the words written around it (MWST, TVA, IVA, VAT, UST, BTW)."""
    return VAT_NOISE.sub("", text)

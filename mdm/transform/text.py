"""Text transforms: spaces, case, cutting and joining, defaults, digits, value maps, SAP texts by
language and SAP's status flags."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mdm.transform.core import Context, TransformError, as_text, describe_kind, transform


@transform()
def trim(value: Any) -> str:
    """Strip surrounding white space."""
    return as_text(value).strip()


@transform()
def collapse_spaces(value: Any) -> str:
    """Runs of white space (incl. line breaks) become one space; ends are trimmed."""
    return " ".join(as_text(value).split())


@transform()
def upper(value: Any) -> str:
    return as_text(value).upper()


@transform()
def lower(value: Any) -> str:
    return as_text(value).lower()


_PARTICLES = frozenset(
    "de du des la le les d l von vom van der den am an im in zum zur und di del della dello da dal e y et "
    "of the and en bei auf sur sous aux".split()
)


def _title_word(word: str, first: bool) -> str:
    parts = re.split(r"([-'’/])", word)
    out = []
    for i, part in enumerate(parts):
        if (i > 0 or not first) and part.casefold() in _PARTICLES:
            out.append(part.lower())  # "Saint-Jean-de-Luz", "Rue de la Paix"
        else:
            out.append(part[:1].upper() + part[1:].lower() if part[:1].isalpha() else part.lower())
    return "".join(out)


@transform()
def title(value: Any) -> str:
    """Title case that keeps particles low ("RUE DE LA PAIX" -> "Rue de la Paix")."""
    words = as_text(value).split(" ")
    return " ".join(_title_word(w, i == 0) for i, w in enumerate(words))


@transform()
def fix_case(value: Any) -> str:
    """Title-case text typed all in capitals or all in lower case; otherwise only capitalise its start."""
    text = as_text(value)
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) > 3 and (all(ch.isupper() for ch in letters) or all(ch.islower() for ch in letters)):
        return title(text)
    return text[:1].upper() + text[1:]


@transform()
def first_line(value: Any) -> str:
    """The first non-empty line (drops "Suite 300" or "2. OG" on a second line)."""
    for line in as_text(value).splitlines():
        if line.strip():
            return line.strip()
    return ""


@transform()
def truncate(value: Any, length: int) -> str:
    """At most ``length`` characters, cut at the end (trailing space removed)."""
    return as_text(value)[:length].rstrip()


def _split_words(text: str, length: int) -> list[str]:
    parts: list[str] = []
    rest = " ".join(text.split())
    while rest:
        if len(rest) <= length:
            parts.append(rest)
            break
        cut = rest.rfind(" ", 0, length + 1)
        cut = cut if cut > 0 else length
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    return parts


@transform()
def split_to(value: Any, length: int, part: int = 1) -> str | None:
    """Part ``part`` (1-based) of the text cut at word boundaries into pieces of at most ``length``
    (SAP's OrganizationBPName1/2 hold 40 characters each)."""
    if part < 1:
        raise TransformError("split_to: part counts from 1")
    parts = _split_words(as_text(value), length)
    return parts[part - 1] if part <= len(parts) else None


@transform(accepts_list=True)
def join(value: Any, separator: str = " ") -> str:
    """Join several values (``from: [a, b]``), skipping empty ones."""
    items = value if isinstance(value, list) else [value]
    return separator.join(as_text(v).strip() for v in items if v not in (None, "") and as_text(v).strip())


@transform(accepts_list=True)
def first(value: Any) -> Any:
    """The first non-empty value of a list (``[*]`` paths, several sources)."""
    if not isinstance(value, list):
        return value
    for item in value:
        if item not in (None, "") and not (isinstance(item, list) and not item):
            return first(item) if isinstance(item, list) else item
    return None


@transform(accepts_none=True)
def default(value: Any, fallback: str | int | float | bool) -> Any:
    """The value when present, else the configured default (``default: DE``)."""
    return fallback if value in (None, "") else value


@transform()
def strip_leading_zeros(value: Any) -> str:
    """Leading zeros removed: "0001000123" -> "1000123" (SAP shows numeric keys padded to their length)."""
    text = as_text(value).strip()
    return text.lstrip("0") or ("0" if text else "")


@transform()
def digits(value: Any, length: int | None = None) -> str:
    """Only the digits; with ``length``, exactly that many (a DUNS number has 9)."""
    out = re.sub(r"\D", "", as_text(value))
    if length is not None and out and len(out) != length:
        raise TransformError(f"expected {length} digits, found {len(out)}")
    return out


@transform(value_map_args=("name",))
def value_map(
    value: Any,
    name: str,
    reverse: bool = False,
    strict: bool = True,
    otherwise: str | None = None,
    *,
    ctx: Context,
) -> Any:
    """Translate through a named value map (``value_map: industry``); ``reverse`` maps back. A value the
    map lacks becomes ``otherwise`` if given, passes through with ``strict: false``, else is a problem."""
    table = ctx.value_map(name)
    text = as_text(value).strip()
    found = table.get(text, reverse=reverse)
    if found is None:
        if otherwise is not None:
            return otherwise
        if strict:
            raise TransformError(f"no entry in value map {name!r}")
        return text
    return found


@transform(accepts_list=True)
def text_in_language(
    value: Any,
    language: str,
    fallback: list[str] | None = None,
    text: str = "ProductDescription",
    language_field: str = "Language",
) -> str | None:
    """The text of the first language that has one, from a list of per-language items (SAP's
    ``to_Description``: ``[{"Language": "EN", "ProductDescription": ...}, ...]``): ``language``, then
    each of ``fallback`` in order. None when none of them is there."""
    items = value if isinstance(value, list) else [value]
    by_language: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise TransformError(
                f"expected items with {language_field} and {text}, got {describe_kind(item)}"
            )
        words = as_text(item.get(text)).strip() if item.get(text) is not None else ""
        code = as_text(item.get(language_field)).strip().upper()
        if words and code:
            by_language.setdefault(code, words)
    for code in (language, *(fallback or ())):
        if str(code).upper() in by_language:
            return by_language[str(code).upper()]
    return None


@transform(accepts_list=True)
def active_unless(value: Any, blocking: list[str] | None = None) -> bool:
    """Whether a record is active, from its flags and status codes (``from: [IsMarkedForDeletion,
    CrossPlantStatus, to_ProductSales.SalesStatus]``): inactive when a flag is true or a status code is
    set - any code, or with ``blocking`` only the listed codes (SAP's blocking statuses are customizing)."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool):
            if item:
                return False
            continue
        code = as_text(item).strip() if item is not None else ""
        if code.lower() == "true":
            return False
        if code and code.lower() != "false" and (blocking is None or code in {str(b) for b in blocking}):
            return False
    return True

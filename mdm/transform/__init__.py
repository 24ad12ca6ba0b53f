"""Named transforms for the entity mappings: small pure functions, configured in YAML by name.

A mapping lists transforms per field, in order, either as a bare name (``trim``) or as a one-key
mapping with arguments (``truncate: 40``, ``split_to: {length: 40, part: 2}``). ``compile_step``
checks the name and binds the arguments when the mapping is loaded, so a typo fails at load time,
not in the middle of a batch. At run time a transform that cannot interpret its value raises
``TransformError`` with a reason that never repeats the value (it may be personal data).

Transforms that need the record's country (phone numbers, VAT ids, postal codes, street
abbreviations) or the mapping's value maps receive a ``Context`` as keyword ``ctx``.
"""

from __future__ import annotations

from mdm.transform.address import (
    expand_street_abbrev,
    join_street,
    postal_code,
    region_code,
    region_name,
    split_street,
    split_street_line,
)
from mdm.transform.contact import (
    country_iso2,
    country_name,
    email_lower,
    phone_country,
    phone_e164,
    phone_national,
    url_domain,
)
from mdm.transform.core import (
    REGISTRY,
    Context,
    Step,
    TransformConfigError,
    TransformDef,
    TransformError,
    ValueMap,
    compile_step,
    describe_kind,
    transform,
)
from mdm.transform.tax import LEGAL_FORMS, legal_form, strip_legal_form, vat_country, vat_normalise
from mdm.transform.text import (
    active_unless,
    collapse_spaces,
    default,
    digits,
    first,
    first_line,
    fix_case,
    join,
    lower,
    split_to,
    strip_leading_zeros,
    text_in_language,
    title,
    trim,
    truncate,
    upper,
    value_map,
)

__all__ = [
    "Context",
    "LEGAL_FORMS",
    "REGISTRY",
    "Step",
    "TransformConfigError",
    "TransformDef",
    "TransformError",
    "ValueMap",
    "active_unless",
    "collapse_spaces",
    "compile_step",
    "country_iso2",
    "country_name",
    "default",
    "describe_kind",
    "digits",
    "email_lower",
    "expand_street_abbrev",
    "first",
    "first_line",
    "fix_case",
    "join",
    "join_street",
    "legal_form",
    "lower",
    "phone_country",
    "phone_e164",
    "phone_national",
    "postal_code",
    "region_code",
    "region_name",
    "split_street",
    "split_street_line",
    "split_to",
    "strip_leading_zeros",
    "strip_legal_form",
    "text_in_language",
    "title",
    "transform",
    "trim",
    "truncate",
    "upper",
    "url_domain",
    "value_map",
    "vat_country",
    "vat_normalise",
]

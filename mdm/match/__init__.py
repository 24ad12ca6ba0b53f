"""Matching (issue 4): which records of the CRM and the ERP are the same customer.

Rules come from the ``match:`` settings of a mapping file and apply in order: the xref (records already
linked), deterministic rules (same VAT number, the ERP number kept in the CRM, same DUNS), then fuzzy
rules (blocking keys, comparisons with ordered Splink-style levels). Scores at or above the high
threshold link automatically, scores between low and high go to the review queue, the rest become new
golden records. Every auto or review decision carries its evidence and is kept in ``match_decision``.
"""

from mdm.match.config import (
    Comparison,
    Feature,
    KeyRule,
    Level,
    MatchConfig,
    MatchConfigError,
    entity_match_config,
    load_match_config,
)
from mdm.match.engine import (
    Cluster,
    Decision,
    MatchRecord,
    MatchResult,
    PreviousDecision,
    RecordRef,
    match_records,
    pair_key,
)

__all__ = [
    "Cluster",
    "Comparison",
    "Decision",
    "Feature",
    "KeyRule",
    "Level",
    "MatchConfig",
    "MatchConfigError",
    "MatchRecord",
    "MatchResult",
    "PreviousDecision",
    "RecordRef",
    "entity_match_config",
    "load_match_config",
    "match_records",
    "pair_key",
]

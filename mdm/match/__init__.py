"""Matching: which records of the CRM and the ERP are the same customer (or product).

Rules come from the ``match:`` settings of a mapping file: the xref (records already linked),
deterministic rules (same VAT number, the ERP number kept in the CRM, same DUNS), blocking rules for
candidate pairs, comparisons with ordered Splink-style levels, and constraints that keep records apart.
The m/u probabilities of the levels and the prior are learnt from the data (``training``) into a
versioned model (``model``, kept by ``store``), unless the settings pin them. Scores at or above the
high threshold link automatically, scores between low and high go to the review queue, the rest become
new golden records; clustering never joins records a constraint keeps apart. Every decision carries
its evidence (weight per comparison, model version) and is kept in ``match_decision``;
``evaluate`` scores a result against a labelled truth.
"""

from mdm.config.mapping import entity_match_config, load_match_config
from mdm.config.match import (
    Comparison,
    Constraint,
    Feature,
    KeyRule,
    Level,
    MatchConfig,
    MatchConfigError,
    TrainingSettings,
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
from mdm.match.model import LevelParameters, MatchModel

__all__ = [
    "Cluster",
    "Comparison",
    "Constraint",
    "Decision",
    "Feature",
    "KeyRule",
    "Level",
    "LevelParameters",
    "MatchConfig",
    "MatchConfigError",
    "MatchModel",
    "MatchRecord",
    "MatchResult",
    "PreviousDecision",
    "RecordRef",
    "TrainingSettings",
    "entity_match_config",
    "load_match_config",
    "match_records",
    "pair_key",
]

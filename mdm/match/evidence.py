"""A decision's evidence as a steward reads it: per comparison its level, both values, m, u and weight.

Decisions keep their evidence compactly (``levels`` and ``weights`` per comparison, in the settings'
order, with the model version that scored them; see ``Scorer.evidence``). ``describe`` joins that with
the model (level labels, m and u) and with both records' values (as the comparison sees them), and
returns plain data for ``synchub review show``, the admin view and ``synchub match evaluate``.
"""

from __future__ import annotations

from typing import Any

from mdm.config.match import MatchConfig
from mdm.match.features import feature_value
from mdm.match.model import MatchModel


def describe(
    evidence: dict[str, Any],
    config: MatchConfig | None,
    model: MatchModel | None,
    left: dict[str, Any] | None = None,
    right: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The evidence with a row per comparison: comparison, level, weight, m, u, left and right values.

    Evidence in the older, already expanded form (``comparisons`` as a list of rows) is returned as it is.
    """
    out = dict(evidence)
    if "levels" not in evidence or config is None:
        return out
    levels, weights = evidence.get("levels") or [], evidence.get("weights") or []
    rows = []
    missing = []
    for k, comparison in enumerate(config.comparisons):
        if k >= len(levels):
            break
        index = int(levels[k])
        level = comparison.levels[index] if index < len(comparison.levels) else None
        if level is not None and level.kind == "null":
            missing.append(comparison.name)
            continue
        row: dict[str, Any] = {
            "comparison": comparison.name,
            "level": level.label if level is not None else str(index),
            "weight": weights[k] if k < len(weights) else None,
            "left": feature_value(comparison.feature, left) if left is not None else None,
            "right": feature_value(comparison.feature, right) if right is not None else None,
        }
        if (
            model is not None
            and comparison.name in model.levels
            and index < len(model.levels[comparison.name])
        ):
            params = model.levels[comparison.name][index]
            row["m"], row["u"] = params.m, params.u
            if params.m is not None and abs(params.weight - (row["weight"] or 0.0)) > 1e-3:
                row["term_frequency"] = True  # the value's rarity moved the weight from log2(m/u)
        rows.append(row)
    out["comparisons"] = rows
    out["missing"] = missing
    out.pop("levels", None)
    out.pop("weights", None)
    return out

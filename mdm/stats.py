"""What a step did: ``StepStats``, the one result shape of every step of every entity.

Each step (extract, quality, match, merge, and the writes: publish, prices, order pushes and status)
returns a ``StepStats``: its outcome counts under fixed names, which system it read or wrote, and the
step's own details (pages, watermark, thresholds ...). The run log stores ``to_json()``; the DQ report,
the demo, ``synchub sync`` and the admin view read the outcome counts through ``from_json()``, never a
step's task id or its detail keys, so a new step or a renamed task is counted the same way.

It reads like the dict it replaced (``stats["created"]``), so a caller may look at any detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

StepKind = Literal["extract", "quality", "match", "merge", "write"]
KINDS: tuple[StepKind, ...] = ("extract", "quality", "match", "merge", "write")


@dataclass(frozen=True)
class Outcome:
    """Records per outcome of one step (every count is a number of records, 0 when it does not apply)."""

    read: int = 0  # read from a system (extract) or looked at (quality, match, merge)
    written: int = 0  # created, updated or deactivated in a system
    unchanged: int = 0  # looked at, nothing to write or change
    failed: int = 0  # a write the system refused (in the error queue)
    waiting: int = 0  # not sent yet, with a reason (a missing product, a customer outside the sales area)
    quarantined: int = 0  # held back by the quality gate
    matched: int = 0  # linked to an existing golden record
    new: int = 0  # a new golden record
    review: int = 0  # a pair waiting for a steward

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @classmethod
    def total(cls, outcomes: Iterable[Outcome]) -> Outcome:
        out = cls()
        for outcome in outcomes:
            out = out + outcome
        return out


OUTCOMES = tuple(f.name for f in fields(Outcome))


@dataclass(frozen=True)
class StepStats(Mapping[str, Any]):
    """One step's result: its kind, the system it read or wrote, its outcome counts and its details."""

    step: str  # the step's name: extract, quality, match, merge, publish, sync, push, status
    kind: StepKind
    entity: str
    system: str | None = None  # salesforce or sap for extract and write steps
    outcome: Outcome = field(default_factory=Outcome)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"step kind must be one of {', '.join(KINDS)}, not {self.kind!r}")

    @classmethod
    def of(
        cls,
        step: str,
        kind: StepKind,
        entity: str,
        details: Mapping[str, Any],
        *,
        system: str | None = None,
        **counts: int,
    ) -> StepStats:
        """A step's result from its own stats dict (its ``entity`` and ``system`` keys are the step's
        fields here) and its outcome counts (``read=``, ``written=`` ... as ``Outcome`` names them)."""
        own = {k: v for k, v in details.items() if k not in ("entity", "system")}
        return cls(step=step, kind=kind, entity=entity, system=system, outcome=Outcome(**counts), details=own)

    # -- the run log's JSON ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """What the run log and the XCom keep: the details, and the step, kind, system and outcome."""
        return {
            **self.details,
            "step": self.step,
            "kind": self.kind,
            "entity": self.entity,
            "system": self.system,
            "outcome": asdict(self.outcome),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepStats | None:
        """A stored step result; None for what is no step result (a failed step's empty XCom)."""
        if not isinstance(data, Mapping) or data.get("kind") not in KINDS:
            return None
        counts = data.get("outcome") if isinstance(data.get("outcome"), Mapping) else {}
        outcome = Outcome(**{name: _count(counts.get(name)) for name in OUTCOMES})
        details = {k: v for k, v in data.items() if k not in ("step", "kind", "entity", "system", "outcome")}
        return cls(
            step=str(data.get("step") or ""),
            kind=data["kind"],
            entity=str(data.get("entity") or ""),
            system=data.get("system"),
            outcome=outcome,
            details=details,
        )

    @property
    def changed_anything(self) -> bool:
        """Whether the step changed what it updates: records written to a system, or golden records
        created, changed, reactivated or retired. A run that changed nothing emits no asset event."""
        if self.outcome.written or self.outcome.new:
            return True
        return any(_count(self.details.get(k)) for k in ("created", "changed", "reactivated", "retired"))

    def count(self, name: str) -> int | None:
        """An outcome count by its name (``read``, ``failed`` ...), else the step's own detail of that
        name (``created``, ``deleted`` ...); None when the step has no such detail."""
        return getattr(self.outcome, name) if name in OUTCOMES else self.details.get(name)

    # -- read as a mapping (the details, then the step's own fields) ------------------------------------

    def __getitem__(self, key: str) -> Any:
        if key in self.details:
            return self.details[key]
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())


def run_steps(stats: Mapping[str, Any] | None) -> list[StepStats]:
    """The step results a run's stats hold: every step of a DAG run (``stats["steps"]``), or the run's own."""
    stats = stats or {}
    steps = stats.get("steps")
    items = steps.values() if isinstance(steps, Mapping) else [stats]
    return [s for s in (StepStats.from_json(item) for item in items) if s is not None]


def steps_of(steps: Iterable[StepStats], kind: StepKind, system: str | None = None) -> list[StepStats]:
    """The steps of a kind (and, when given, of a system), in run order."""
    return [s for s in steps if s.kind == kind and (system is None or s.system == system)]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Rejections:
    """The writes of one run that Salesforce or SAP refused, against all it attempted."""

    rejected: int
    attempted: int  # written + rejected, over every write step
    by_system: Mapping[str, int]

    @classmethod
    def of(cls, steps: Iterable[StepStats]) -> Rejections:
        by_system: dict[str, int] = {}
        rejected = attempted = 0
        for step in steps_of(steps, "write"):
            rejected += step.outcome.failed
            attempted += step.outcome.written + step.outcome.failed
            system = step.system or step.step
            by_system[system] = by_system.get(system, 0) + step.outcome.failed
        return cls(rejected, attempted, by_system)

    @property
    def share(self) -> float:
        return self.rejected / self.attempted if self.attempted else 0.0

    def describe(self, entity: str) -> str:
        """``2 of 1,203 writes were rejected (salesforce 2, sap 0)``, and where a steward finds them."""
        systems = ", ".join(f"{system} {count:,}" for system, count in self.by_system.items())
        return (
            f"{self.rejected:,} of {self.attempted:,} writes were rejected ({systems}); they are in the "
            f"error queue: synchub errors list --entity {entity}"
        )

    def failure(self, entity: str, max_share: float) -> str | None:
        """Why the run fails: more rejected writes than the mapping's ``writes.max_rejected_share``
        allows; None when there are none or few enough."""
        if not self.rejected or self.share <= max_share:
            return None
        return (
            f"{self.describe(entity)}. That is {self.share:.1%} of the run's writes, above the "
            f"{max_share:.1%} the mapping allows (writes.max_rejected_share in mappings/{entity}.yaml)"
        )

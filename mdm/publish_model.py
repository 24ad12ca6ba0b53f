"""What one publish keeps while it runs: the members of a golden record in the target system, the writes
it plans, and its counts (``mdm.publish``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_ERRORS = 500  # failed records listed in the stats (all are counted)


@dataclass
class Member:
    system: str
    key: str
    values: dict[str, Any] | None  # canonical values as last staged (read for the target system only)
    staged: bool  # it has a canonical record (extracted at least once)
    is_deleted: bool
    quarantined: bool
    carried: str | None  # the golden id the record holds
    updated_at: dt.datetime | None
    created_by_synchub: bool


@dataclass
class PublishWrite:
    """One record to send: an update of a member, or a create (``member`` None)."""

    golden_id: str
    target: dict[str, Any]  # the full projection: what the record should hold afterwards
    fields: dict[str, Any]
    member: str | None = None
    found: bool = False  # a create that the lookup found already there (earlier run): now an update
    retire: bool = False  # a within-system duplicate given the mapping's retire_duplicates values


@dataclass
class PublishStats:
    system: str
    entity: str
    golden: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    not_created: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, write: PublishWrite, code: str, message: str) -> None:
        self.counts["failed"] += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(
                {
                    "system": self.system,
                    "golden_id": write.golden_id,
                    "source_key": write.member,
                    "code": code,
                    "message": message,
                }
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "entity": self.entity,
            "golden": self.golden,
            **{k: self.counts[k] for k in ("created", "updated", "unchanged", "failed")},
            "recovered": self.counts["recovered"],
            "echo_pending": self.counts["echo_pending"],
            "skipped_deleted": self.counts["skipped_deleted"],
            "not_created": self.counts["not_created"],
            "not_created_examples": self.not_created,
            "duplicates_retired": self.counts["duplicates_retired"],
            "read_back": self.counts["read_back"],
            "errors": self.errors,
        }

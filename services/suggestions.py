"""What one analysis does to a session's suggestions: dedup by intent, expiry, one critical.

Pure rules, applied by the runner inside the run's transaction:

* **Dedup by intent.** A suggestion's key is its type plus its normalized intent (or plus its
  normalized text when the analyzer gave no intent; `storage.analysis.dedup_key`). A key the
  session was already offered, in any status (open, applied, dismissed, expired), is not
  offered again; nor is a key twice in one run.
* **Expiry.** An open suggestion expires when the new analysis lists its intent as resolved,
  or when `EXPIRE_AFTER_RUNS` analyses in a row have not raised its key again (the
  conversation moved on). Raising it again (even though the repeat is not shown) resets that
  count.
* **One critical.** At most one critical suggestion is open at a time: a new critical is
  stored as high when one is still open (or when an earlier one of the same run took the slot).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from storage.analysis import NewSuggestion, OpenRow, intent_slug

__all__ = ["EXPIRE_AFTER_RUNS", "SuggestionPlan", "plan_suggestions"]

# Analyses in a row that do not raise an open suggestion again before it expires.
EXPIRE_AFTER_RUNS = 2

@dataclass(frozen=True, slots=True)
class SuggestionPlan:
    offered: list[NewSuggestion]  # to store and show, in the analyzer's order
    expired: list[uuid.UUID]  # open suggestions this run retires
    raised: list[uuid.UUID]  # open suggestions this run raised again (their count restarts)
    aged: list[uuid.UUID]  # every open suggestion this run looked at


def plan_suggestions(
    new: Sequence[NewSuggestion],
    open_rows: Sequence[OpenRow],
    earlier_keys: Iterable[str],
    resolved: Iterable[str] = (),
    *,
    expire_after: int = EXPIRE_AFTER_RUNS,
) -> SuggestionPlan:
    raised_keys = {s.key for s in new}
    resolved_slugs = {slug for slug in (intent_slug(r) for r in resolved) if slug}
    expired: list[uuid.UUID] = []
    raised: list[uuid.UUID] = []
    for row in open_rows:
        if row.intent is not None and intent_slug(row.intent) in resolved_slugs:
            expired.append(row.id)
        elif row.key in raised_keys:
            raised.append(row.id)
        elif row.stale_runs + 1 >= expire_after:
            expired.append(row.id)
    gone = set(expired)
    critical_open = any(r.priority == "critical" for r in open_rows if r.id not in gone)
    seen = set(earlier_keys)
    offered: list[NewSuggestion] = []
    for suggestion in new:
        if suggestion.key in seen:
            continue
        seen.add(suggestion.key)
        if suggestion.priority == "critical":
            if critical_open:
                suggestion = replace(suggestion, priority="high")
            critical_open = True
        offered.append(suggestion)
    return SuggestionPlan(offered, expired, raised, [r.id for r in open_rows])

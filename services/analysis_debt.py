"""Analyses a session is owed, kept in the database so they outlive the process that saw them.

Every ANALYSIS_EVERY messages a session is owed one analysis. A run for such a boundary first
claims it (`claim`): a lease in `analysis_progress`, refused if another run holds it or a
finished run already covered the boundary, so two processes never analyze the same boundary.
A finished run (stored or failed: either way the panels heard) records what it covered
(`settle`). A run that never finishes (its process died, or was stopped mid-run) leaves the
boundary owed; once its lease expires, the sweep of any gateway process, every
ANALYSIS_SWEEP_SECONDS and once at start-up, triggers it again (`Trigger.reason == "owed"`),
if the session stored a message within ANALYSIS_OWED_MAX_AGE_SECONDS: a boundary of a call
long silent is not worth a run, and a backlog of them (a restart after hours, a changed
ANALYSIS_EVERY) would queue every live session behind it.

Manual and retry runs claim nothing: they run when asked, and a stored one counts as covering
what its window reached.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from gateway.metrics import counter
from gateway.scheduler import Trigger, TriggerReason
from storage.analysis_progress import claim_boundary, owed_sessions, settle_boundary
from storage.errors import DB_ERRORS
from storage.pool import Pool

__all__ = ["BOUNDARY_REASONS", "AnalysisLedger"]

log = logging.getLogger("gateway.analysis")

# The triggers that stand for a boundary.
BOUNDARY_REASONS = frozenset({TriggerReason.COUNT, TriggerReason.OWED})

_owed_total = counter(
    "gateway_analysis_owed_total", "analyses the sweep found owed (their run never finished)"
)


class AnalysisLedger:
    """Claims, settles and sweeps the sessions' analysis boundaries."""

    def __init__(
        self, pool: Pool, *, every: int, lease_s: float, sweep_s: float, max_age_s: float = 600.0
    ) -> None:
        self.pool = pool
        self.every = every
        self.lease_s = lease_s
        self.sweep_s = sweep_s
        self.max_age_s = max_age_s

    async def claim(self, trigger: Trigger, run_id: uuid.UUID) -> bool:
        """Whether this run should go ahead. A database error lets it run (its own reads will
        tell): analysis is never lost to the bookkeeping."""
        if trigger.reason not in BOUNDARY_REASONS or not trigger.message_count:
            return True
        try:
            return await claim_boundary(
                self.pool, trigger.session_id, run_id, trigger.message_count, self.lease_s
            )
        except DB_ERRORS as err:
            log.warning("could not claim analysis of %s: %s", trigger.session_id, err)
            return True

    async def settle(self, trigger: Trigger, run_id: uuid.UUID, covered: int) -> None:
        """The run finished having covered messages up to `covered`; drop its lease."""
        covered = max(covered, trigger.message_count or 0)
        try:
            await settle_boundary(self.pool, trigger.session_id, run_id, covered)
        except DB_ERRORS as err:
            log.warning("could not record analysis of %s: %s", trigger.session_id, err)

    async def sweep(self, trigger: Callable[[Trigger], object]) -> int:
        """Trigger every owed boundary once; returns how many."""
        owed = await owed_sessions(self.pool, self.every, self.max_age_s)
        for session_id, boundary in owed:
            _owed_total.inc()
            log.info("session %s is owed the analysis at %d messages", session_id, boundary)
            trigger(Trigger(session_id, TriggerReason.OWED, boundary))
        return len(owed)

    async def sweep_forever(self, trigger: Callable[[Trigger], object]) -> None:
        while True:
            try:
                await self.sweep(trigger)
            except DB_ERRORS as err:
                log.warning("analysis sweep failed: %s", err)
            await asyncio.sleep(self.sweep_s)

"""PostgreSQL's CPU per stored frame, schema variants side by side (`--only storecost`).

The gateway's group commit calls `gateway_store_frames` with one JSON batch; this drives that
function directly (no gateway, no sockets) against databases that differ only in the variant
under test, in alternating rounds on the same server, and charges each round the CPU of the
whole PostgreSQL process tree (backend, WAL writer, checkpointer). What it isolates is the
database's share of a durable ack; the ingest benchmark measures the whole path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import orjson

from bench.procs import cpu_seconds, tree
from bench.sessions import create_sessions
from storage import events, live, sessions, transcripts
from storage.database import with_database_name
from storage.migrate import MIGRATIONS_DIR, apply_migrations
from storage.seed import apply_seeds
from storage.transcripts import new_id

__all__ = [
    "LOCK_VARIANTS",
    "QUERIES",
    "VARIANTS",
    "Variant",
    "query_plans",
    "run_small_batches",
    "run_storecost",
]

STORE = "SELECT count(*) FROM gateway_store_frames($1::text::jsonb)"
STORE_FEW = "SELECT count(*) FROM gateway_store_few_frames($1::text::jsonb)"  # migration 0015
TEXT = "Thanks, that helps. What does success look like for your team in the first 90 days?"


def _v4() -> uuid.UUID:
    return uuid.uuid4()


@dataclass(frozen=True)
class Variant:
    name: str
    ddl: tuple[str, ...] = ()  # run after the migrations, on this variant's database only
    make_id: Callable[[], uuid.UUID] = new_id
    store: str = STORE  # the call that stores a batch
    # False: the database is measured as a new deployment with its sessions just imported
    # (no VACUUM or ANALYZE, autovacuum off on the sessions' tables), so every plan is made,
    # and kept, without statistics on them.
    analyzed: bool = True


# The schema as it was before migration 0013, and as it is: what 0013 changed, measured.
BEFORE_0013 = (
    "CREATE INDEX idx_voice_transcripts_session "
    "ON voice_transcripts (session_id, round_number, created_at DESC)",
)
VARIANTS = (
    Variant("before 0013: random UUIDs, 4 indexes", BEFORE_0013, _v4),
    Variant("UUIDv7 ids, 4 indexes", BEFORE_0013),
    Variant("UUIDv7 ids, 3 indexes (migration 0013)"),
    # Not adopted: what the per-row foreign-key check costs, for the record (the same
    # integrity checked once per batch would need triggers of its own).
    Variant(
        "same, without the session foreign key (not adopted)",
        ("ALTER TABLE voice_transcripts DROP CONSTRAINT voice_transcripts_session_id_fkey",),
    ),
)


def _function_of(migration: str, name: str = "gateway_store_frames") -> str:
    """The store function `name` as a migration defined it, to put a database back to it."""
    text = (MIGRATIONS_DIR / migration).read_text()
    start = text.index(f"FUNCTION {name}(")
    return "CREATE OR REPLACE " + text[start : text.index("$fn$;", start) + len("$fn$;")]


_WITHOUT_STATISTICS = tuple(
    f"ALTER TABLE {table} SET (autovacuum_enabled = off)"
    for table in ("interview_sessions", "session_counters")
)
_FEW_0015 = _function_of("0015_store_frames_index_plans.sql", "gateway_store_few_frames")

# Migration 0015: the store function's plans pinned to index probes (the batch's counters, the
# resend check, the active-session check) instead of scans the planner chose for a JSON array of
# unknown length on tables that were small when the plan was made. Migration 0016: the session
# check a primary-key probe whatever the statistics (0015's could become a scan of every active
# session through the status index when planned before any). It shows with small batches on a
# database of many sessions (what an unsaturated gateway sends), so it has its own run.
LOCK_VARIANTS = (
    Variant(
        "before 0015: plans by the table statistics",
        (_function_of("0014_transcript_corrections.sql"),),
    ),
    Variant("plans pinned to index probes (migration 0015)", (_FEW_0015,), store=STORE_FEW),
    Variant("sessions probed by key (migration 0016)", store=STORE_FEW),
    Variant(
        "migration 0015, planned before any statistics",
        (_FEW_0015, *_WITHOUT_STATISTICS),
        store=STORE_FEW,
        analyzed=False,
    ),
    Variant(
        "migration 0016, planned before any statistics",
        _WITHOUT_STATISTICS,
        store=STORE_FEW,
        analyzed=False,
    ),
)


@dataclass
class Result:
    variant: Variant
    rows: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    per_round: list[float] = field(default_factory=list)

    @property
    def us_per_row(self) -> float:
        return self.cpu_s / self.rows * 1e6 if self.rows else 0.0

    async def measure(
        self, conn: asyncpg.Connection, postmaster_pid: int | None, payloads: list[str]
    ) -> None:
        """Store `payloads` with the variant's call, as one round charged to this result."""
        cpu0, t0 = cpu_seconds(tree(postmaster_pid)), time.monotonic()
        stored = 0
        for payload in payloads:
            stored += int(await conn.fetchval(self.variant.store, payload))
        cpu = cpu_seconds(tree(postmaster_pid)) - cpu0
        self.rows += stored
        self.cpu_s += cpu
        self.wall_s += time.monotonic() - t0
        self.per_round.append(cpu / stored * 1e6 if stored else 0.0)


async def _prepare(
    admin_dsn: str, name: str, variant: Variant, sessions: int
) -> tuple[str, list[uuid.UUID]]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    dsn = with_database_name(admin_dsn, name)
    await apply_migrations(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await apply_seeds(conn)
        for ddl in variant.ddl:
            await conn.execute(ddl)
    finally:
        await conn.close()
    ids = [uuid.UUID(s) for s in await create_sessions(dsn, sessions)]
    if not variant.analyzed:
        return dsn, ids
    conn = await asyncpg.connect(dsn)
    try:  # the set-up's own vacuum and statistics, not charged to the first measured round
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return dsn, ids


async def _drop_databases(admin_dsn: str, names: list[str]) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _batch(variant: Variant, ids: list[uuid.UUID], seq: int, per_session: int) -> str:
    now = datetime.now(UTC)
    frames = [
        (variant.make_id(), sid, 1, seq + k, "user", TEXT, now, 16)
        for k in range(per_session)
        for sid in ids
    ]
    return orjson.dumps(frames).decode()


async def run_storecost(
    admin_dsn: str,
    postmaster_pid: int | None,
    *,
    sessions: int,
    per_session: int,
    batches: int,
    rounds: int,
) -> tuple[list[Result], list[tuple[str, str]]]:
    """Each round stores `batches` batches of `sessions x per_session` frames per variant; also
    the plans of the transcript queries on the last variant's database. The databases are
    dropped afterwards."""
    setups = []
    dsns: list[str] = []
    names: list[str] = []
    for i, variant in enumerate(VARIANTS):
        name = f"ig_storecost_{uuid.uuid4().hex[:6]}_{i}"
        dsn, ids = await _prepare(admin_dsn, name, variant, sessions)
        setups.append((variant, await asyncpg.connect(dsn), ids))
        dsns.append(dsn)
        names.append(name)
    results = [Result(v) for v, _, _ in setups]
    seq = 1
    try:
        for _ in range(rounds):
            for (variant, conn, ids), result in zip(setups, results, strict=True):
                payloads = [
                    _batch(variant, ids, seq + b * per_session, per_session) for b in range(batches)
                ]
                await result.measure(conn, postmaster_pid, payloads)
            seq += batches * per_session
        plans = await query_plans(dsns[2])  # migration 0013's schema
    finally:
        for _, conn, _ in setups:
            await conn.close()
        await _drop_databases(admin_dsn, names)
    return results, plans


async def run_small_batches(
    admin_dsn: str,
    postmaster_pid: int | None,
    *,
    sessions: int,
    batch: int,
    calls: int,
    rounds: int,
) -> list[Result]:
    """Each round makes `calls` calls of `batch` frames (one per session, sessions in turn) per
    variant of `LOCK_VARIANTS`, on databases of `sessions` sessions each."""
    setups = []
    names: list[str] = []
    for i, variant in enumerate(LOCK_VARIANTS):
        name = f"ig_lockcost_{uuid.uuid4().hex[:6]}_{i}"
        dsn, ids = await _prepare(admin_dsn, name, variant, sessions)
        setups.append((variant, await asyncpg.connect(dsn), ids))
        names.append(name)
    results = [Result(v) for v, _, _ in setups]
    try:
        for r in range(rounds):
            for (variant, conn, ids), result in zip(setups, results, strict=True):
                payloads = []
                for c in range(calls):
                    first = (c * batch) % (len(ids) - batch)
                    payloads.append(_batch(variant, ids[first : first + batch], r + 1, 1))
                await result.measure(conn, postmaster_pid, payloads)
    finally:
        for _, conn, _ in setups:
            await conn.close()
        await _drop_databases(admin_dsn, names)
    return results


# Every read of `voice_transcripts` in `storage/` (the store function's own lookups are the
# resend check on (session, round, seq) and the join after it, both on that unique index).
QUERIES: tuple[tuple[str, str, tuple[object, ...]], ...] = (
    ("hub warm-up: last lines (transcripts.SELECT_RECENT)", transcripts.SELECT_RECENT, (20,)),
    ("snapshot: transcript tail (live.SELECT_TRANSCRIPT_TAIL)", live.SELECT_TRANSCRIPT_TAIL, (50,)),
    ("resume: last seq (live.SELECT_LAST_SEQ)", live.SELECT_LAST_SEQ, (1,)),
    ("panel resume: event log (events.SELECT_EVENTS)", events.SELECT_EVENTS, (0, 100, 5000)),
    ("session end: transcript (sessions.SELECT_TRANSCRIPT)", sessions.SELECT_TRANSCRIPT, ()),
    ("REST: message count (sessions.COUNT_MESSAGES)", sessions.COUNT_MESSAGES, ()),
    ("REST: session (sessions.SELECT_SESSION)", sessions.SELECT_SESSION, ()),
)


async def query_plans(dsn: str) -> list[tuple[str, str]]:
    """`EXPLAIN` of each query for a session with stored frames, on a database of many."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE voice_transcripts")
        sid = await conn.fetchval(
            "SELECT session_id FROM voice_transcripts ORDER BY id DESC LIMIT 1"
        )
        out = []
        for label, sql, args in QUERIES:
            rows = await conn.fetch("EXPLAIN (COSTS OFF) " + sql, sid, *args)
            out.append((label, "\n".join(r[0] for r in rows)))
        return out
    finally:
        await conn.close()

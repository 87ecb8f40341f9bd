"""The admission core without sockets: connect rates, panel caps, shared frame buckets, and the
instants the edge accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.admission import Admission, AdmissionLimits, ConnectRefused
from gateway.instants import check_recent, check_storable


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_connects_per_token_refill_with_time() -> None:
    clock = Clock()
    admission = Admission(AdmissionLimits(connects_per_minute_per_token=6.0), clock)
    for _ in range(3):  # burst: max(3, 6 / 3)
        admission.connect("t", "a")
    with pytest.raises(ConnectRefused) as refused:
        admission.connect("t", "a")
    assert refused.value.status == 429 and refused.value.retry_after_s == 10.0
    admission.connect("other", "a")  # another token is its own bucket
    clock.now += 10.0  # one connect's worth
    admission.connect("t", "a")


def test_connects_per_address() -> None:
    admission = Admission(AdmissionLimits(connects_per_minute_per_address=9.0), Clock())
    for token in ("a", "b", "c"):
        admission.connect(token, "10.0.0.1")
    with pytest.raises(ConnectRefused, match="address"):
        admission.connect("d", "10.0.0.1")
    admission.connect("d", "10.0.0.2")


def test_panel_cap_counts_open_sockets() -> None:
    admission = Admission(AdmissionLimits(panels_per_token=2), Clock())
    assert admission.join("t", "panel") and admission.join("t", "panel")
    assert not admission.join("t", "panel")
    admission.leave("t", "panel")  # the refused one leaves too
    admission.leave("t", "panel")
    assert admission.join("t", "panel")
    assert admission.join("t", "candidate")  # candidates are not capped here


def test_frame_bucket_is_shared_and_pruned_when_idle() -> None:
    clock = Clock()
    admission = Admission(AdmissionLimits(frames_per_s=1.0, frame_burst=2), clock)
    first = admission.frame_bucket("t")
    assert first.take() and first.take() and not first.take()
    assert admission.frame_bucket("t") is first  # a reconnect gets the same, empty bucket
    clock.now += 120.0
    admission._prune()
    assert len(admission) == 0  # full buckets, no sockets: forgotten


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=16))),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-20))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_unstorable_instants(value: datetime) -> None:
    with pytest.raises(ValueError):
        check_storable(value)


def test_storable_and_recent() -> None:
    edge = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=15, minutes=59)))
    assert check_storable(edge) is edge
    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert check_recent(datetime(2026, 1, 1, 1), 86_400, now) is None  # naive: UTC
    reason = check_recent(datetime(2026, 1, 3, tzinfo=UTC), 86_400, now)
    assert reason is not None and "ahead of" in reason

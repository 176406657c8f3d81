"""The time budget of a solve: `time_limit`, its slack, and the deadline the certificate reads.

The rule (docs/result.md, "Time limits"): a solve given ``time_limit=T`` returns within
``T + slack(T)`` seconds of its start, ``slack(T) = max(SLACK_SECONDS, SLACK_FRACTION * T)``
(1 s, or 5% of T above 20 s), whatever the phase the limit falls in. The iterations stop early
enough to leave the final certificate a reserve (`Monitor.reserve`, RESERVE_LANCZOS_STEPS); every
certificate of the solve (periodic checkpoints and the final one, their Lanczos runs, dense
fallbacks and factorisation proofs) runs under the deadline ``start + T + 0.8 slack(T)`` set here
with `until` (the last fifth of the slack is for closing up after a certificate cut short). Where
the deadline cuts an eigensolver short its estimate is unconverged and never used: the bound
falls back to what is proven in the time left (Gershgorin's discs for a matrix, no bound for an
operator) or to the tightest bound an earlier certificate of the solve proved, and the
status is TIME_LIMIT, never CERTIFIED from an unconverged eigensolver.

The deadline is a context variable (not an argument threaded through every eigenvalue routine):
`until` tightens it for a block of code (nested blocks keep the earliest deadline), `remaining`
and `expired` read it. Outside any block there is no deadline. The clock is ``time.perf_counter``
looked up at every call, so tests can replace it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

SLACK_SECONDS = 1.0
SLACK_FRACTION = 0.05

_DEADLINE: ContextVar[float] = ContextVar("lowrank_sdp_deadline", default=math.inf)


def slack(time_limit: float | None) -> float:
    """How far past `time_limit` a solve may return: max(1 s, 5% of the limit) (inf: no limit)."""
    if time_limit is None or not math.isfinite(time_limit):
        return math.inf
    return max(SLACK_SECONDS, SLACK_FRACTION * time_limit)


def as_limit(time_limit) -> float | None:
    """`time_limit` as a float where it is a valid one, else None (a front door's own checks
    raise on it later; the deadline is set before them)."""
    if time_limit is None or isinstance(time_limit, bool):
        return None
    try:
        value = float(time_limit)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


CLOSING_SHARE = 0.2
"""Of the slack, kept after the certificates' deadline for what follows a certificate cut short
(its last residual product, Gershgorin's bound, the result)."""


def hard_deadline(start: float, time_limit: float | None) -> float:
    """The deadline of a solve's certificates: ``start + time_limit + (1 - CLOSING_SHARE) *
    slack(time_limit)`` on the perf_counter clock (inf without a limit), so that the solve
    returns by ``start + time_limit + slack(time_limit)``."""
    if time_limit is None or not math.isfinite(time_limit):
        return math.inf
    return start + time_limit + (1.0 - CLOSING_SHARE) * slack(time_limit)


def now() -> float:
    return time.perf_counter()


def deadline() -> float:
    """The deadline in force (perf_counter seconds; inf: none)."""
    return _DEADLINE.get()


def remaining() -> float:
    """Seconds left before the deadline in force (inf without one; negative once past it)."""
    d = _DEADLINE.get()
    return math.inf if d == math.inf else d - time.perf_counter()


def expired() -> bool:
    """Has the deadline in force passed?"""
    d = _DEADLINE.get()
    return d != math.inf and time.perf_counter() >= d


@contextmanager
def until(at: float) -> Iterator[None]:
    """Within this block the deadline is `at` (perf_counter seconds), or an earlier one already
    in force."""
    token = _DEADLINE.set(min(at, _DEADLINE.get()))
    try:
        yield
    finally:
        _DEADLINE.reset(token)

"""Lookup statistics for the periodic summary line of ``esl-app serve``.

A busy line answers thousands of calls a minute. One log line per call repeated what each call's
record already keeps (``lookup_status``, the customer) and cost a measurable share of a lookup's
CPU, so the per-call line is at debug level and the info log gets one summary per interval: how
many calls, how many lookups failed and which, and the latency spread. Failures are still logged
one by one, as warnings and errors, when they happen.

Latencies go into fixed buckets, so recording a call is a counter increment and a summary never
sorts anything on the event loop; a percentile is reported as its bucket's upper bound.

On PostgreSQL the summary also counts the lookups' database round trips. Calls that reach the
every-call read while a round trip is out share the next one, so calls per round trip shows how
well they batch: it rises with load, and what a call costs esl_app falls with it.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from typing import Any

# Upper bounds of the latency buckets, in ms; the last bucket is everything slower.
BOUNDS_MS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class LookupStats:
    """Counts of one interval's live lookup sessions; :meth:`take` reads and restarts them."""

    def __init__(self, round_trips: Callable[[], int] | None = None) -> None:
        """``round_trips``: the database reads sent so far (a running count), when batched."""
        self._round_trips = round_trips
        self._round_trips_at = round_trips() if round_trips else 0
        self._restart(time.monotonic())

    def _restart(self, now: float) -> None:
        self.since = now
        self.calls = 0
        self.failed = 0
        self.hung_up = 0
        self.failed_by: Counter[str] = Counter()
        self.buckets = [0] * (len(BOUNDS_MS) + 1)
        self.slowest_ms = 0.0

    def add(self, ms: float, failures: list[tuple[str, str]] | None = None, hung_up: bool = False) -> None:
        """One call's lookups: how long they took and which failed (name, why)."""
        self.calls += 1
        self.buckets[bisect_left(BOUNDS_MS, ms)] += 1
        self.slowest_ms = max(self.slowest_ms, ms)
        if failures:
            self.failed += 1
            self.failed_by.update(name for name, _why in failures)
        if hung_up:
            self.hung_up += 1

    def percentile_ms(self, q: float) -> float | None:
        """The upper bound of the bucket holding the ``q`` quantile (None above the last bound)."""
        if not self.calls:
            return 0.0
        rank = max(1, round(q * self.calls))
        seen = 0
        for bound, count in zip(BOUNDS_MS, self.buckets):
            seen += count
            if seen >= rank:
                return bound
        return None

    def take(self, now: float | None = None) -> dict[str, Any] | None:
        """This interval's summary as log fields (None when no call came), and a new interval."""
        now = time.monotonic() if now is None else now
        if not self.calls:
            self.since = now
            return None
        p50, p99 = self.percentile_ms(0.5), self.percentile_ms(0.99)
        fields: dict[str, Any] = {
            "interval_s": round(now - self.since, 1), "calls": self.calls, "failed": self.failed,
            "hung_up": self.hung_up,
            "failed_by": ",".join(f"{name}:{n}" for name, n in sorted(self.failed_by.items())),
            # A quantile in the last bucket is slower than every bound: written as ">5000".
            "p50_ms_at_most": p50 if p50 is not None else f">{BOUNDS_MS[-1]:g}",
            "p99_ms_at_most": p99 if p99 is not None else f">{BOUNDS_MS[-1]:g}",
            "max_ms": round(self.slowest_ms, 2),
        }
        if self._round_trips is not None:
            sent = self._round_trips()
            fields["db_round_trips"] = sent - self._round_trips_at
            self._round_trips_at = sent
        self._restart(now)
        return fields

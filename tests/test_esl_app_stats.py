"""The lookup summary's counts and latency buckets (esl_app.stats)."""

from esl_app.stats import BOUNDS_MS, LookupStats


def test_no_call_no_summary_and_the_interval_restarts():
    stats = LookupStats()
    assert stats.take(now=stats.since + 60) is None
    assert stats.since > 0


def test_counts_failures_by_lookup_and_restarts_after_take():
    stats = LookupStats()
    start = stats.since
    stats.add(0.8)
    stats.add(3.0, [("arrears", "deadline of 500 ms exceeded")])
    stats.add(1.2, [("customer", "OperationalError: x"), ("arrears", "OperationalError: x")], hung_up=True)
    fields = stats.take(now=start + 60)
    assert fields is not None
    assert (fields["calls"], fields["failed"], fields["hung_up"]) == (3, 2, 1)
    assert fields["failed_by"] == "arrears:2,customer:1"
    assert fields["max_ms"] == 3.0
    assert fields["interval_s"] == 60.0
    assert stats.take(now=start + 120) is None  # counted once


def test_percentiles_are_bucket_upper_bounds():
    stats = LookupStats()
    for _ in range(98):
        stats.add(0.7)  # (0.5, 1] ms
    stats.add(4.0)  # (2, 5]
    stats.add(40.0)  # (20, 50]
    assert stats.percentile_ms(0.5) == 1
    assert stats.percentile_ms(0.99) == 5
    assert stats.percentile_ms(1.0) == 50
    fields = stats.take()
    assert fields is not None
    assert (fields["p50_ms_at_most"], fields["p99_ms_at_most"]) == (1, 5)


def test_a_bound_itself_falls_in_its_own_bucket_and_slower_than_all_bounds_says_so():
    stats = LookupStats()
    stats.add(2.0)
    assert stats.percentile_ms(0.5) == 2
    stats = LookupStats()
    stats.add(BOUNDS_MS[-1] + 1)
    fields = stats.take()
    assert fields is not None
    assert fields["p50_ms_at_most"] == f">{BOUNDS_MS[-1]:g}"


def test_serve_writes_a_summary_every_interval(monkeypatch):
    import gevent

    from esl_app import cli

    lines = []
    monkeypatch.setattr(cli, "event", lambda _log, level, msg, **fields: lines.append((level, msg, fields)))
    stats = LookupStats()
    stats.add(0.9)
    reporter = gevent.spawn(cli._summarise_lookups_forever, stats, 1)
    try:
        gevent.sleep(1.3)
        assert [(msg, fields["calls"]) for _level, msg, fields in lines] == [("lookup summary", 1)]
        gevent.sleep(1.0)  # no call in the second interval: no line
        assert len(lines) == 1
    finally:
        reporter.kill()


def test_round_trips_are_counted_per_interval_when_reads_are_batched():
    sent = [40]
    stats = LookupStats(round_trips=lambda: sent[0])
    start = stats.since
    stats.add(1.0)
    sent[0] = 43
    fields = stats.take(now=start + 60)
    assert fields is not None and fields["db_round_trips"] == 3
    stats.add(1.0)
    sent[0] = 44
    fields = stats.take(now=start + 120)
    assert fields is not None and fields["db_round_trips"] == 1
    plain = LookupStats()
    plain.add(1.0)
    fields = plain.take()
    assert fields is not None and "db_round_trips" not in fields

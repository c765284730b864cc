"""esl_app benchmark: live lookups per second and latency through the real socket path.

For each backend (SQLite, PostgreSQL) it seeds N customers, starts ``esl-app serve`` as its own
process on 127.0.0.1, and drives it with a scripted switch (tests/esl_app_support/fake_fs.py)
from this process: a closed loop of C concurrent calls (throughput), then an open loop at a fixed
rate (latency of the socket hop as the switch sees it: connect to close). The same load runs
against a bare handler (connect, myevents, linger, resume, exit; no lookup, no set) in an
identical server process: the ceiling. Lookups run twice: variables applied with one ``set`` per
variable (the lookup contract) and with one ``multiset`` (esl.set_app). Printed: calls/s, p50/p99
ms, server CPU per call, and the lookups/bare ratios.

    python -m tests.bench_esl_app                      # quick: 2,000 customers
    python -m tests.bench_esl_app --customers 1000000  # the full figure (seeding takes minutes)

Not a pytest test: figures depend on the machine; targets are compared by a person.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import gevent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOKUPS = "customer,arrears"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def serve_bare(port: int) -> None:
    """A server process whose handler does only the session protocol: the ceiling."""
    from esl_app.config import Config
    from esl_app.server import HotlineServer

    class Bare:
        def __init__(self, session):
            self.session = session

        def run(self) -> None:
            pass  # connect, myevents, linger and resume already happened; the server sends exit

    HotlineServer(Config(esl_port=port, shutdown_grace_s=2), Bare).serve_forever()


def _start(cmd: list[str], port: int, log_path: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited early; see {log_path}") from None
            time.sleep(0.05)
    raise SystemExit(f"server did not listen on {port}; see {log_path}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.close()  # type: ignore[attr-defined]


def _callers(customers: int, count: int, seed: int = 7) -> list[str]:
    """Known callers in assorted CLI forms, plus 10 % unknown numbers."""
    from esl_app.seed import mobile_for

    rnd = random.Random(seed)
    forms = ["{}", "+86{}", "0086{}", "0{}"]
    out = []
    for _ in range(count):
        if rnd.random() < 0.1:
            out.append(f"199{rnd.randrange(10**8):08d}")
        else:
            out.append(rnd.choice(forms).format(mobile_for(rnd.randint(1, customers))))
    return out


def closed_loop(port: int, callers: list[str], concurrency: int) -> tuple[float, list[float], int]:
    """Every worker places calls back to back; returns (calls/s, latencies ms, failures)."""
    from tests.esl_app_support.fake_fs import FakeSwitch

    switch = FakeSwitch("127.0.0.1", port)
    latencies: list[float] = []
    failures = 0
    queue = list(callers)

    def worker() -> None:
        nonlocal failures
        while queue:
            caller = queue.pop()
            started = time.perf_counter()
            try:
                result = switch.call(caller, {"hotline_lookup": LOOKUPS}, timeout=10)
                if not result.exited:
                    failures += 1
            except (OSError, gevent.Timeout):
                failures += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(worker) for _ in range(concurrency)])
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, failures


def open_loop(port: int, callers: list[str], rate: float) -> tuple[list[float], int, list[str]]:
    """Calls start at a fixed rate regardless of how long earlier ones take."""
    from tests.esl_app_support.fake_fs import FakeSwitch

    switch = FakeSwitch("127.0.0.1", port)
    latencies: list[float] = []
    statuses: list[str] = []
    failures = 0

    def one(caller: str) -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            result = switch.call(caller, {"hotline_lookup": LOOKUPS}, timeout=10)
        except (OSError, gevent.Timeout):
            failures += 1
            return
        latencies.append((time.perf_counter() - started) * 1000)
        statuses.append(result.variables.get("hotline_lookup_status", ""))

    jobs = []
    t0 = time.perf_counter()
    for i, caller in enumerate(callers):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        jobs.append(gevent.spawn(one, caller))
    gevent.joinall(jobs)
    return latencies, failures, statuses


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), to report cost per call on a shared machine."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _row(label: str, rate: float, lat: list[float], failures: int, cpu_ms: float | None = None) -> str:
    cpu = f"   server CPU {cpu_ms:5.2f} ms/call (one core: {1000 / cpu_ms:5.0f} calls/s)" if cpu_ms else ""
    return (f"  {label:<28} {rate:8.0f} calls/s   p50 {_percentile(lat, 0.5):6.2f} ms   "
            f"p99 {_percentile(lat, 0.99):6.2f} ms   failures {failures}{cpu}")


def bench_backend(name: str, db_url: str, args: argparse.Namespace, workdir: str) -> dict[str, float]:
    from esl_app.db import init_schema, open_database
    from esl_app.models import Customer
    from esl_app.seed import seed_customers

    database = open_database(db_url, query_timeout_ms=600000)
    init_schema(database)
    have = Customer.select().count()
    if have >= args.customers:
        print(f"{name}: reusing {have:,} customers already in {db_url}")
    else:
        started = time.perf_counter()
        seed_customers(database, args.customers - have, with_blacklist=False)
        seeded = time.perf_counter() - started
        print(f"{name}: seeded {args.customers - have:,} customers in {seeded:.1f} s "
              f"({(args.customers - have) / seeded:,.0f}/s)")
    if name == "postgres":
        # What a DBA does after a bulk load; otherwise autovacuum works through the new rows
        # during the measurement and competes for the same two cores.
        database.close()
        import psycopg2

        conn = psycopg2.connect(db_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        conn.close()
    database.close()

    callers = _callers(args.customers, args.calls)
    figures: dict[str, float] = {}
    for mode in ("bare", "set", "multiset"):
        port = _free_port()
        if mode == "bare":
            cmd = [sys.executable, "-m", "tests.bench_esl_app", "--serve-bare", str(port)]
        else:
            cfg = os.path.join(workdir, f"{name}.yaml")
            with open(cfg, "w", encoding="utf-8") as fh:
                fh.write(f"esl: {{port: {port}, shutdown_grace_s: 5, set_app: {mode}}}\n"
                         f"database: {{url: '{db_url}', threads: 8}}\n"
                         "logging: {level: info}\n")
            cmd = [sys.executable, "-m", "esl_app.cli", "serve", "--config", cfg]
        proc = _start(cmd, port, os.path.join(workdir, f"{name}-{mode}.log"))
        try:
            closed_loop(port, callers[:500], args.concurrency)  # warm up connections and caches
            cpu0 = _cpu_seconds(proc.pid)
            rate, lat, fails = closed_loop(port, callers, args.concurrency)
            cpu_ms = (_cpu_seconds(proc.pid) - cpu0) * 1000 / max(1, len(lat))
            print(_row(f"{mode} closed loop x{args.concurrency}", rate, lat, fails, cpu_ms))
            figures[f"{mode}_cpu_ms"] = cpu_ms
            o_lat, o_fails, statuses = open_loop(port, callers[: int(args.rate * args.open_seconds)], args.rate)
            print(_row(f"{mode} open loop {args.rate:.0f}/s", args.rate, o_lat, o_fails))
            if mode != "bare":
                failed = sum(1 for s in statuses if s != "ok")
                print(f"  lookup status: {len(statuses) - failed} ok, {failed} failed")
            figures[f"{mode}_rate"] = rate
            figures[f"{mode}_p50"] = statistics.median(lat) if lat else float("nan")
            figures[f"{mode}_p99"] = _percentile(lat, 0.99)
            figures[f"{mode}_open_p50"] = _percentile(o_lat, 0.5)
            figures[f"{mode}_open_p99"] = _percentile(o_lat, 0.99)
        finally:
            _stop(proc)
    for mode in ("set", "multiset"):
        figures[f"{mode}_ratio"] = figures[f"{mode}_rate"] / figures["bare_rate"]
        cpu_ratio = figures["bare_cpu_ms"] / figures[f"{mode}_cpu_ms"]
        print(f"  ratio lookups ({mode})/bare: {figures[f'{mode}_ratio']:.2f} by throughput, {cpu_ratio:.2f} by server "
              "CPU per call (the second is steadier when other processes share the cores)")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=2000, help="calls per closed-loop run")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop calls per second")
    parser.add_argument("--open-seconds", type=float, default=5.0)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sqlite-db", metavar="PATH",
                        help="keep the SQLite database here and reuse it next time (seeding 1M takes minutes)")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0

    print(f"esl_app live lookups ({LOOKUPS}) through the socket path; {os.cpu_count()} CPUs; "
          f"{args.customers:,} customers, {args.calls} calls, concurrency {args.concurrency}")
    workdir = tempfile.mkdtemp(prefix="hotline-bench-")
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                path = os.path.abspath(args.sqlite_db) if args.sqlite_db else f"{workdir}/bench.db"
                bench_backend("sqlite", f"sqlite:///{path}", args, workdir)
            elif backend == "postgres":
                from tests.esl_app_support.pg import PostgresUnavailable, start_cluster

                try:
                    cluster = start_cluster()
                except PostgresUnavailable as exc:
                    print(f"postgres: skipped ({exc})")
                    continue
                try:
                    cluster.admin("CREATE DATABASE bench")
                    bench_backend("postgres", cluster.url("bench"), args, workdir)
                finally:
                    cluster.destroy()
            else:
                print(f"unknown backend {backend!r} (sqlite, postgres)")
                return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

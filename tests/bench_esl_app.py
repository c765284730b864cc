"""esl_app benchmark: live lookups per second and latency through the real socket path.

For each backend (SQLite, PostgreSQL) it seeds N customers, starts ``esl-app serve`` as its own
process on 127.0.0.1 and plays the switch's side of the outbound socket from this process, the
way FreeSWITCH's ``socket`` app does: connect reply with the channel data, ``+OK`` to every
command, CHANNEL_EXECUTE and CHANNEL_EXECUTE_COMPLETE (each carrying the channel's variables,
~3 KB, as FreeSWITCH's events do) for every app, disconnect notice on ``exit``. The switch side is kept lean (canned
bytes, one regex per command) so that the server, not the load generator, is what is measured;
the generator's own CPU per call is printed to show it.

Per backend and mode:
  * closed loop: C calls in flight, each placed as soon as the previous one ended -> calls/s; the
    modes take turns for several rounds and each reports its median round (the VM's speed drifts);
  * open loop: calls started at a fixed rate (100/s) whatever earlier calls do -> p50/p99 of the
    socket hop as the switch sees it (connect to close);
  * server CPU per call (user+system of the server process / calls), steadier than calls/s when
    other processes share the machine.
Modes: ``bare`` (a handler that does nothing: connect, resume, exit; the ceiling), ``api`` (the
default: lookups customer,arrears, variables by one ``api uuid_setvar_multi`` sent with ``exit``),
``multiset`` (variables in one executed app; the session subscribes to events to wait for it) and
``set`` (one executed app per variable). Targets are printed beside the figures.

    python -m tests.bench_esl_app                      # 2,000 customers (make bench)
    python -m tests.bench_esl_app --customers 1000000  # the issue's size (make bench --full); the
                                                       # SQLite database is kept in $TMPDIR and reused

Not a pytest test: figures depend on the machine; a person compares them with the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import gevent
from gevent import socket as gsocket

from tests.esl_app_support.process import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOKUPS = "customer,arrears"
TARGET_RATE = 500.0  # live lookups per second
TARGET_P99_MS = 20.0  # at 100 calls/s
TARGET_RATIO = 0.7  # lookups / bare handler
KEEP_SQLITE_FROM = 100_000  # customers; a database this big is kept between runs (seeding takes minutes)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# ---- the switch's side, lean -----------------------------------------------------------------

_FS_SAFE = "".join(chr(b) for b in range(33, 127) if chr(b) not in "\r\n \"#%&+:;<=>?@[\\]^`{|}")


def _enc(value: str) -> str:
    """switch_url_encode, as mod_event_socket applies it to header values."""
    return quote(value, safe=_FS_SAFE)


# Headers shaped like a sofia channel's CHANNEL_DATA on FreeSWITCH 1.10 (names and typical sizes);
# every event FreeSWITCH sends on an outbound socket carries them.
_CHANNEL_HEADERS = [
    ("Channel-State", "CS_EXECUTE"), ("Channel-Call-State", "ACTIVE"), ("Channel-State-Number", "4"),
    ("Channel-Name", "sofia/internal/{caller}@10.0.0.20"), ("Call-Direction", "inbound"),
    ("Presence-Call-Direction", "inbound"), ("Channel-HIT-Dialplan", "true"),
    ("Channel-Call-UUID", "{uuid}"), ("Answer-State", "answered"), ("Channel-Read-Codec-Name", "PCMA"),
    ("Channel-Read-Codec-Rate", "8000"), ("Channel-Read-Codec-Bit-Rate", "64000"),
    ("Channel-Write-Codec-Name", "PCMA"), ("Channel-Write-Codec-Rate", "8000"),
    ("Channel-Write-Codec-Bit-Rate", "64000"), ("Caller-Direction", "inbound"),
    ("Caller-Logical-Direction", "inbound"), ("Caller-Username", "{caller}"), ("Caller-Dialplan", "XML"),
    ("Caller-Caller-ID-Name", "{caller}"), ("Caller-Caller-ID-Number", "{caller}"),
    ("Caller-Orig-Caller-ID-Name", "{caller}"), ("Caller-Orig-Caller-ID-Number", "{caller}"),
    ("Caller-Network-Addr", "10.0.0.20"), ("Caller-ANI", "{caller}"), ("Caller-Destination-Number", "identify"),
    ("Caller-Unique-ID", "{uuid}"), ("Caller-Source", "mod_sofia"), ("Caller-Context", "hotline_demo"),
    ("Caller-Channel-Name", "sofia/internal/{caller}@10.0.0.20"), ("Caller-Profile-Index", "2"),
    ("Caller-Profile-Created-Time", "1795399205012345"), ("Caller-Channel-Created-Time", "1795399205012345"),
    ("Caller-Channel-Answered-Time", "1795399205112345"), ("Caller-Channel-Progress-Time", "0"),
    ("Caller-Channel-Hangup-Time", "0"), ("Caller-Screen-Bit", "true"), ("Caller-Privacy-Hide-Name", "false"),
    ("Caller-Privacy-Hide-Number", "false"), ("variable_direction", "inbound"), ("variable_uuid", "{uuid}"),
    ("variable_session_id", "17"), ("variable_sip_from_user", "{caller}"),
    ("variable_sip_from_uri", "{caller}@10.0.0.20"), ("variable_sip_from_host", "10.0.0.20"),
    ("variable_channel_name", "sofia/internal/{caller}@10.0.0.20"),
    ("variable_sip_call_id", "5f1c7a1e-2b44-4c2e-9a3b-{uuid}"), ("variable_sip_local_network_addr", "10.0.0.10"),
    ("variable_sip_network_ip", "10.0.0.20"), ("variable_sip_network_port", "5060"),
    ("variable_sip_received_ip", "10.0.0.20"), ("variable_sip_received_port", "5060"),
    ("variable_sip_via_protocol", "udp"), ("variable_sip_req_user", "95598"),
    ("variable_sip_req_uri", "95598@10.0.0.10"), ("variable_sip_to_user", "95598"),
    ("variable_sip_to_uri", "95598@10.0.0.10"), ("variable_sip_contact_user", "{caller}"),
    ("variable_sip_user_agent", "Carrier-SBC 4.2"), ("variable_switch_r_sdp",
     ("v=0\r\no=- 3851 3851 IN IP4 10.0.0.20\r\ns=-\r\nc=IN IP4 10.0.0.20\r\nt=0 0\r\n"
      "m=audio 16384 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n")),
    ("variable_rtp_use_codec_name", "PCMA"), ("variable_rtp_use_codec_rate", "8000"),
    ("variable_read_codec", "PCMA"), ("variable_write_codec", "PCMA"), ("variable_endpoint_disposition", "ANSWER"),
    ("variable_hotline_flow", "utility"), ("variable_hotline_did", "95598"), ("variable_hotline_node", "identify"),
    ("variable_timezone", "Asia/Shanghai"), ("variable_RECORD_BRIDGE_REQ", "true"),
    ("variable_current_application", "socket"), ("variable_current_application_data", "127.0.0.1:8084 async full"),
]


def _headers(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"{k}: {_enc(v)}\n" for k, v in pairs)


_CHANNEL_TEMPLATE = _headers(_CHANNEL_HEADERS).replace("%7B", "{").replace("%7D", "}")
_BYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
_REPLIES = {b"myevents": b"Content-Type: command/reply\nReply-Text: +OK Events Enabled\n\n",
            b"linger": b"Content-Type: command/reply\nReply-Text: +OK will linger\n\n",
            b"resume": b"Content-Type: command/reply\nReply-Text: +OK\n\n"}
_API_OK = b"Content-Type: api/response\nContent-Length: 3\n\n+OK"
_EXIT_REPLY = (f"Content-Type: command/reply\nReply-Text: +OK bye\n\n"
               f"Content-Type: text/disconnect-notice\nContent-Length: {len(_BYE)}\n\n{_BYE}").encode()
_SENDMSG_OK = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
_APP = re.compile(rb"^execute-app-name: (.*)$", re.MULTILINE)
_ARG = re.compile(rb"^execute-app-arg: (.*)$", re.MULTILINE)
_TAG = re.compile(rb"^Event-UUID: (.*)$", re.MULTILINE)


@dataclass
class CallOutcome:
    seconds: float
    ok: bool  # the session ended with exit
    status: str = ""  # hotline_lookup_status as esl_app set it


@dataclass
class LeanSwitch:
    """Places calls on esl_app's outbound socket (one connection per call, like ``socket``)."""

    port: int
    lookups: str = LOOKUPS
    _serial: int = field(default=0)

    def call(self, caller: str, timeout: float = 10.0) -> CallOutcome:
        self._serial += 1
        uuid = f"b3a7c2d0-0000-4000-8000-{self._serial:012d}"
        channel = _CHANNEL_TEMPLATE.format(caller=_enc(caller), uuid=uuid)
        status = ""
        started = time.perf_counter()
        sock = gsocket.socket(gsocket.AF_INET, gsocket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(("127.0.0.1", self.port))
            sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
            pending = b""
            while True:
                data = sock.recv(65536)
                if not data:
                    return CallOutcome(time.perf_counter() - started, False, status)
                pending += data
                out: list[bytes] = []
                while b"\n\n" in pending:
                    block, pending = pending.split(b"\n\n", 1)
                    if block.startswith(b"sendmsg"):
                        app = _APP.search(block)
                        arg = _ARG.search(block)
                        tag = _TAG.search(block)
                        arg_text = arg.group(1).decode() if arg else ""
                        if b"hotline_lookup_status=" in block:
                            status = arg_text.rsplit("hotline_lookup_status=", 1)[1]  # set last
                        info = (f"{channel}Application: {app.group(1).decode() if app else ''}\n"
                                f"Application-Data: {_enc(arg_text)}\n"
                                f"Application-UUID: {tag.group(1).decode() if tag else ''}\n")
                        out.append(_SENDMSG_OK)
                        for name, extra in (("CHANNEL_EXECUTE", ""), ("CHANNEL_EXECUTE_COMPLETE",
                                                                       "Application-Response: _none_\n")):
                            body = f"Event-Name: {name}\nUnique-ID: {uuid}\n{info}{extra}".encode()
                            out.append(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body)
                    elif block.startswith(b"connect"):
                        reply = (f"Event-Name: CHANNEL_DATA\nUnique-ID: {uuid}\n{channel}"
                                 f"variable_hotline_lookup: {_enc(self.lookups)}\n"
                                 "variable_hotline_lookup_status: failed\n"
                                 "Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: async\n"
                                 "Control: full\n\n")
                        out.append(reply.encode())
                    elif block in _REPLIES:
                        out.append(_REPLIES[block])
                    elif block.startswith(b"api uuid_setvar_multi "):
                        if b"hotline_lookup_status=" in block:
                            status = block.rsplit(b"hotline_lookup_status=", 1)[1].decode()
                        out.append(_API_OK)
                    elif block.startswith(b"exit"):
                        sock.sendall(b"".join(out) + _EXIT_REPLY)
                        return CallOutcome(time.perf_counter() - started, True, status)
                    else:
                        out.append(b"Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
                if out:
                    sock.sendall(b"".join(out))
        except (OSError, gevent.Timeout):
            return CallOutcome(time.perf_counter() - started, False, status)
        finally:
            sock.close()


# ---- the servers ------------------------------------------------------------------------------

def serve_bare(port: int) -> None:
    """A server process whose handler does only the session protocol: the ceiling."""
    from esl_app.config import Config
    from esl_app.server import HotlineServer

    class Bare:
        def __init__(self, session):
            self.session = session

        def run(self) -> None:
            pass  # connect and resume already happened; the server sends exit

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
                log.close()
                with open(log_path, encoding="utf-8", errors="replace") as fh:
                    tail = fh.read()[-2000:]
                raise SystemExit(f"server exited early ({' '.join(cmd[1:4])}...):\n{tail}") from None
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# ---- the load ---------------------------------------------------------------------------------

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


@dataclass
class Run:
    rate: float  # calls/s (closed loop) or the offered rate (open loop)
    latencies: list[float]  # ms
    failures: int
    statuses: list[str]
    server_cpu_ms: float  # per call
    generator_cpu_ms: float  # per call

    @property
    def p50(self) -> float:
        return _percentile(self.latencies, 0.5)

    @property
    def p99(self) -> float:
        return _percentile(self.latencies, 0.99)


def _measure(proc: subprocess.Popen, body) -> tuple[list[CallOutcome], float, float, float]:
    cpu0, gen0, wall0 = _cpu_seconds(proc.pid), time.process_time(), time.perf_counter()
    outcomes = body()
    wall = time.perf_counter() - wall0
    return outcomes, wall, _cpu_seconds(proc.pid) - cpu0, time.process_time() - gen0


def _run(outcomes: list[CallOutcome], rate: float, server_cpu: float, gen_cpu: float) -> Run:
    done = [o for o in outcomes if o.ok]
    n = max(1, len(outcomes))
    return Run(rate, [o.seconds * 1000 for o in done], len(outcomes) - len(done), [o.status for o in done],
               server_cpu * 1000 / n, gen_cpu * 1000 / n)


def closed_loop(proc: subprocess.Popen, switch: LeanSwitch, callers: list[str], concurrency: int) -> Run:
    """``concurrency`` calls in flight, each followed at once by the next: throughput."""
    queue = list(reversed(callers))
    outcomes: list[CallOutcome] = []

    def worker() -> None:
        while queue:
            outcomes.append(switch.call(queue.pop()))

    def body() -> list[CallOutcome]:
        gevent.joinall([gevent.spawn(worker) for _ in range(concurrency)])
        return outcomes

    outcomes, wall, server_cpu, gen_cpu = _measure(proc, body)
    return _run(outcomes, sum(1 for o in outcomes if o.ok) / wall, server_cpu, gen_cpu)


def open_loop(proc: subprocess.Popen, switch: LeanSwitch, callers: list[str], rate: float) -> Run:
    """Calls start at a fixed rate whatever earlier calls do: the latency a switch would see."""
    outcomes: list[CallOutcome] = []

    def one(caller: str) -> None:
        outcomes.append(switch.call(caller))

    def body() -> list[CallOutcome]:
        jobs = []
        t0 = time.perf_counter()
        for i, caller in enumerate(callers):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
            jobs.append(gevent.spawn(one, caller))
        gevent.joinall(jobs)
        return outcomes

    outcomes, _wall, server_cpu, gen_cpu = _measure(proc, body)
    return _run(outcomes, rate, server_cpu, gen_cpu)


# ---- one backend ------------------------------------------------------------------------------

def _seed(name: str, db_url: str, customers: int) -> None:
    from esl_app.db import init_schema, open_database
    from esl_app.models import Customer
    from esl_app.seed import seed_customers

    database = open_database(db_url, query_timeout_ms=600000)
    init_schema(database)
    have = Customer.select().count()
    if have >= customers:
        print(f"{name}: reusing {have:,} customers already in the database", flush=True)
    else:
        started = time.perf_counter()
        seed_customers(database, customers - have, with_blacklist=False)
        seeded = time.perf_counter() - started
        print(f"{name}: seeded {customers - have:,} customers in {seeded:.1f} s "
              f"({(customers - have) / seeded:,.0f}/s)", flush=True)
    database.close()
    if name == "postgres":
        # What a DBA does after a bulk load; otherwise autovacuum works through the new rows
        # during the measurement and competes for the same two cores.
        import psycopg2

        conn = psycopg2.connect(db_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        conn.close()


def _warm(name: str, db_url: str, quiet: bool = False) -> None:
    """Read the database into the caches, as a server that has run for a while has it.

    Without this the first lookups of a freshly seeded 1M-customer database read the disk (on the
    event loop, for SQLite's inline reads) and the figures mix cold start with steady state. It is
    done again before every round, untimed: this VM's memory manager (DAMON, kdamond) evicts file
    pages within minutes even with most of the RAM free, which made later rounds read the disk.
    """
    started = time.perf_counter()
    total = 0
    if name == "sqlite":
        path = db_url[len("sqlite:///"):]
        for part in (path, path + "-wal"):
            try:
                with open(part, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        total += len(chunk)
            except FileNotFoundError:
                pass
    else:
        import psycopg2

        conn = psycopg2.connect(db_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                relations = ("SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE n.nspname = 'public' AND c.relkind = '{}'")
                cur.execute(f"SELECT coalesce(sum(pg_prewarm(oid, 'read')), 0) FROM ({relations.format('r')}) t")
                total += int(cur.fetchone()[0]) * 8192
                cur.execute(f"SELECT coalesce(sum(pg_prewarm(oid, 'buffer')), 0) FROM ({relations.format('i')}) t")
                total += int(cur.fetchone()[0]) * 8192
        except psycopg2.Error as exc:
            print(f"{name}: not warmed ({str(exc).strip()}); the first lookups read the disk")
            return
        finally:
            conn.close()
    if not quiet:
        print(f"{name}: read {total / 1e6:,.0f} MB into the caches in {time.perf_counter() - started:.1f} s "
              "(as after a while in service)", flush=True)


def _verdict(value: float, target: float, higher_is_better: bool, unit: str = "") -> str:
    met = value >= target if higher_is_better else value <= target
    if met:
        return "met"
    gap = (target - value) if higher_is_better else (value - target)
    return f"MISSED by {gap:.2f}{unit} ({abs(gap) / target:.0%})"


def _round_trips(log_path: str) -> tuple[int, int]:
    """Calls and database round trips from a server's ``lookup summary`` lines (JSON log)."""
    calls = trips = 0
    try:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"lookup summary"' not in line:
                    continue
                try:
                    fields = json.loads(line)
                except ValueError:
                    continue
                calls += int(fields.get("calls", 0))
                trips += int(fields.get("db_round_trips", 0))
    except OSError:
        pass
    return calls, trips


def bench_backend(name: str, db_url: str, args: argparse.Namespace, workdir: str) -> dict[str, Run]:
    _seed(name, db_url, args.customers)
    if not args.cold:
        _warm(name, db_url)
    callers = _callers(args.customers, args.calls)
    open_callers = _callers(args.customers, int(args.rate * args.open_seconds), seed=11)
    runs: dict[str, Run] = {}
    print(f"  {'':<22}{'closed loop x' + str(args.concurrency):>18}   "
          f"{'open loop ' + format(args.rate, '.0f') + '/s':>26}   {'CPU per call (ms)':>26}")
    modes = args.modes.split(",")
    servers: dict[str, tuple[subprocess.Popen, LeanSwitch]] = {}
    try:
        for mode in modes:
            port = free_port()
            if mode == "bare":
                cmd = [sys.executable, "-m", "tests.bench_esl_app", "--serve-bare", str(port)]
            else:
                cfg = os.path.join(workdir, f"{name}-{mode}.yaml")
                with open(cfg, "w", encoding="utf-8") as fh:
                    fh.write(f"esl: {{port: {port}, shutdown_grace_s: 5, set_app: {mode}}}\n"
                             f"database: {{url: '{db_url}', threads: 8}}\n"
                             "logging: {level: info}\n")
                cmd = [sys.executable, "-m", "esl_app.cli", "serve", "--config", cfg]
            servers[mode] = (_start(cmd, port, os.path.join(workdir, f"{name}-{mode}.log")), LeanSwitch(port))
        for proc, switch in servers.values():
            closed_loop(proc, switch, callers[: min(500, len(callers))], args.concurrency)  # warm up
        # The modes take turns, round after round, and each keeps its median round: on a shared
        # VM the machine's speed drifts by tens of percent within a minute, and a ratio of two
        # runs made a minute apart measured the drift as much as esl_app.
        rounds: dict[str, list[Run]] = {mode: [] for mode in modes}
        for _ in range(args.rounds):
            if not args.cold:
                _warm(name, db_url, quiet=True)
            for mode in modes:
                proc, switch = servers[mode]
                rounds[mode].append(closed_loop(proc, switch, callers, args.concurrency))
        for mode in modes:
            proc, switch = servers[mode]
            closed = sorted(rounds[mode], key=lambda r: r.rate)[len(rounds[mode]) // 2]
            closed.server_cpu_ms = sorted(r.server_cpu_ms for r in rounds[mode])[len(rounds[mode]) // 2]
            opened = open_loop(proc, switch, open_callers, args.rate)
            runs[mode] = closed
            runs[mode + "_open"] = opened
            label = "bare handler" if mode == "bare" else f"lookups ({mode})"
            failed = (sum(1 for r in rounds[mode] for s in r.statuses if s != "ok")
                      + sum(1 for s in opened.statuses if s != "ok")) if mode != "bare" else 0
            print(f"  {label:<22}{closed.rate:10.0f} calls/s   p50 {opened.p50:6.2f} ms  p99 {opened.p99:6.2f} ms   "
                  f"server {closed.server_cpu_ms:5.2f}  generator {closed.generator_cpu_ms:5.2f}   "
                  f"failures {sum(r.failures for r in rounds[mode]) + opened.failures}"
                  + (f", lookup status failed {failed}" if failed else "")
                  + "   rounds " + "/".join(f"{r.rate:.0f}" for r in rounds[mode]), flush=True)
    finally:
        for proc, _switch in servers.values():
            _stop(proc)
    for mode in servers:
        calls, trips = _round_trips(os.path.join(workdir, f"{name}-{mode}.log"))
        if trips:
            print(f"  {mode}: {calls / trips:.1f} calls per database round trip over the whole run ({calls:,} calls; "
                  "calls that reach the every-call read together share one, so this grows with load)")
    if "bare" in runs:
        bare = runs["bare"]
        for mode in [m for m in args.modes.split(",") if m != "bare"]:
            run, opened = runs[mode], runs[mode + "_open"]
            ratio = run.rate / bare.rate
            cpu_ratio = bare.server_cpu_ms / run.server_cpu_ms
            print(f"  {mode}: {run.rate:.0f} lookups/s (target >= {TARGET_RATE:.0f}: "
                  f"{_verdict(run.rate, TARGET_RATE, True, '/s')}); "
                  f"p99 {opened.p99:.2f} ms at {args.rate:.0f}/s (target <= {TARGET_P99_MS:.0f}: "
                  f"{_verdict(opened.p99, TARGET_P99_MS, False, ' ms')}); "
                  f"ratio {ratio:.2f} (target >= {TARGET_RATIO}: {_verdict(ratio, TARGET_RATIO, True)}), "
                  f"{cpu_ratio:.2f} by server CPU per call")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=2000, help="calls per closed-loop round")
    parser.add_argument("--rounds", type=int, default=5, help="closed-loop rounds per mode (the median is kept)")
    parser.add_argument("--concurrency", type=int, default=10, help="closed loop: calls in flight")
    parser.add_argument("--rate", type=float, default=100.0, help="open loop: calls started per second")
    parser.add_argument("--open-seconds", type=float, default=10.0)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--modes", default="bare,api,multiset,set")
    parser.add_argument("--sqlite-db", metavar="PATH",
                        help="keep the SQLite database here and reuse it next time (seeding 1M takes minutes)")
    parser.add_argument("--postgres-url", metavar="URL",
                        help="a PostgreSQL database kept for benchmarking, reused instead of a throwaway cluster "
                             "(seeding 1M takes minutes); fake customers are added up to --customers, so never "
                             "point it at a live database")
    parser.add_argument("--cold", action="store_true",
                        help="do not read the database into the caches first (cold-start figures)")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0

    print(f"esl_app live lookups ({LOOKUPS}) through the socket path; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; {args.customers:,} customers; closed loop {args.rounds} rounds of {args.calls} calls x"
          f"{args.concurrency}; open loop {args.rate:.0f}/s for {args.open_seconds:.0f} s; targets: "
          f">= {TARGET_RATE:.0f} lookups/s, p99 <= {TARGET_P99_MS:.0f} ms, ratio >= {TARGET_RATIO}", flush=True)
    workdir = tempfile.mkdtemp(prefix="hotline-bench-")
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                if args.sqlite_db:
                    path = os.path.abspath(args.sqlite_db)
                elif args.customers >= KEEP_SQLITE_FROM:
                    path = os.path.join(tempfile.gettempdir(), f"hotline-bench-{args.customers}.db")
                    print(f"sqlite: database kept in {path} for the next run (--sqlite-db to choose)")
                else:
                    path = f"{workdir}/bench.db"
                bench_backend("sqlite", f"sqlite:///{path}", args, workdir)
            elif backend == "postgres" and args.postgres_url:
                bench_backend("postgres", args.postgres_url, args, workdir)
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

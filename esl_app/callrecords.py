"""One call record per hotline call, written when the call ends, off the call's path.

``esl-app serve`` keeps one inbound Event Socket connection to the switch (:mod:`esl_app.switch`),
subscribed to CHANNEL_HANGUP_COMPLETE and RECORD_STOP and filtered on ``variable_hotline_flow``,
so only calls that entered a compiled flow reach it. CHANNEL_HANGUP_COMPLETE carries every channel
variable, which is all a record needs:

- nodes visited: FreeSWITCH pushes ``transfer_history`` (``<epoch>:<uuid>:bl_xfer:<ext>/<context>/
  <dialplan>``) on every blind transfer, and compiled flows link their nodes with ``transfer``; the
  extensions of ``hotline_<flow>`` contexts are the nodes (helper extensions ``menu.ask`` count as
  their node ``menu``). No compiler change and no per-node cost on the switch. When the variable is
  absent (the simulator does not keep it), the record falls back to the last lookup node
  (``hotline_node``) and the extension the call ended in;
- start/answer/end from ``*_uepoch`` (or ``*_epoch``), outcome from mod_callcenter's ``cc_*``
  variables, ``originate_disposition``, mod_voicemail's ``voicemail_message_len`` and the cause.

Writes are idempotent (upsert on the call uuid). When the database is down or locked, a batch goes
to an append-only spool file (JSON lines, fsync'd before the batch counts as kept) and is replayed
when the database answers again; replay is an upsert too, so a crash between the database commit
and the spool's truncation duplicates nothing. Only one worker thread touches the database and the
spool, so they never race.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.queue
import peewee
from gevent.threadpool import ThreadPool

from .logs import event
from .models import CallRecord
from .phone import normalise_key
from .protocol import Message, ProtocolError, parse_event

log = logging.getLogger("esl_app.callrecords")

EVENTS = ("CHANNEL_HANGUP_COMPLETE", "RECORD_STOP")
# Only channels that entered a compiled flow (the public extension sets hotline_flow).
FILTERS = (("variable_hotline_flow", "/./"),)

# Errors meaning "the database is not taking writes now" (down, locked, schema missing): spool and
# retry. Anything else (a constraint, bad data) is the record's fault and must not block the rest.
_UNAVAILABLE = (peewee.OperationalError, peewee.InterfaceError, peewee.ProgrammingError)
_LIMITS = {"call_uuid": 64, "caller": 32, "did": 32, "flow": 64, "outcome": 64, "hangup_cause": 64,
           "queue": 64, "agent": 64, "recording_path": 255, "lookup_status": 10}


@dataclass
class CallSummary:
    """What one finished call leaves behind (the fields of :class:`~esl_app.models.CallRecord`)."""

    call_uuid: str
    caller: str = ""
    did: str = ""
    flow: str = ""
    nodes: list[str] = field(default_factory=list)
    start: float | None = None
    answer: float | None = None
    end: float | None = None
    outcome: str = ""
    hangup_cause: str = ""
    queue: str = ""
    agent: str = ""
    recording: str = ""
    lookup_status: str = ""
    customer_id: int | None = None

    def row(self) -> dict[str, Any]:
        def at(epoch: float | None) -> dt.datetime | None:
            return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)

        values: dict[str, Any] = {
            "call_uuid": self.call_uuid, "caller": self.caller, "did": self.did, "flow": self.flow,
            "nodes_visited": ",".join(self.nodes), "start_at": at(self.start), "answer_at": at(self.answer),
            "end_at": at(self.end), "outcome": self.outcome, "hangup_cause": self.hangup_cause,
            "queue": self.queue, "agent": self.agent, "recording_path": self.recording,
            "lookup_status": self.lookup_status, "customer": self.customer_id,
        }
        for name, limit in _LIMITS.items():
            values[name] = values[name][:limit]
        return values

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> CallSummary:
        data = json.loads(line)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# --- reading the hangup event ----------------------------------------------------------------

def _epoch(headers: Mapping[str, str], name: str) -> float | None:
    micro = headers.get(f"variable_{name}_uepoch", "")
    if micro.isdigit() and int(micro) > 0:
        return int(micro) / 1_000_000
    whole = headers.get(f"variable_{name}_epoch", "")
    if whole.isdigit() and int(whole) > 0:
        return float(whole)
    return None


def array_items(value: str) -> list[str]:
    """A FreeSWITCH array variable (``ARRAY::a|:b``) or a plain value, as a list."""
    if not value:
        return []
    if value.startswith("ARRAY::"):
        return value[len("ARRAY::"):].split("|:")
    return [value]


def nodes_from_history(history: str, flow: str) -> list[str]:
    """The flow's nodes in visiting order, from ``transfer_history`` (consecutive repeats folded:
    a menu's ``M``, ``M.ask``, ``M.route`` are one visit of ``M``)."""
    nodes: list[str] = []
    for item in array_items(history):
        parts = item.split(":", 3)
        if len(parts) < 4 or parts[2] != "bl_xfer":
            continue
        target = parts[3].rsplit("/", 2)
        if len(target) < 2 or not target[1].startswith("hotline_"):
            continue
        extension, context = target[0], target[1]
        node = extension.split(".", 1)[0]
        if node in ("hotline", "hotline_entry", ""):
            continue
        other = context[len("hotline_"):]
        name = node if other == flow else f"{other}:{node}"
        if not nodes or nodes[-1] != name:
            nodes.append(name)
    return nodes


def _outcome(v: Mapping[str, str], cause: str, answered: bool, history: str) -> tuple[str, str]:
    """(outcome, agent) from what the switch's modules left on the channel."""
    agent = v.get("variable_cc_agent", "")
    if cause == "CALL_REJECTED" and v.get("variable_hotline_blacklisted") == "true":
        return "rejected", agent
    if v.get("variable_cc_agent_bridged") == "true" or v.get("variable_cc_cause") == "answered":
        return "agent", agent
    if v.get("variable_originate_disposition") == "SUCCESS":
        if ".designated_result/" in history:
            return "agent", v.get("variable_hotline_designated_agent", "")
        return "bridged", agent
    length = v.get("variable_voicemail_message_len", "")
    if length.isdigit() and int(length) > 0:
        return "voicemail", agent
    if v.get("variable_cc_cause") == "cancel":
        reason = v.get("variable_cc_cancel_reason", "")
        if reason in ("TIMEOUT", "NO_AGENT_TIMEOUT"):
            return "queue_timeout", agent
        return "abandoned", agent
    if not answered:
        return "unanswered", agent
    return "ivr", agent


def summarise(headers: Mapping[str, str], recordings: list[str] | None = None,
              default_area_code: str = "") -> CallSummary:
    """A call's record from its CHANNEL_HANGUP_COMPLETE headers (decoded)."""
    v = headers
    flow = v.get("variable_hotline_flow", "")
    history = v.get("variable_transfer_history", "")
    nodes = nodes_from_history(history, flow)
    if not history:
        last = v.get("Caller-Destination-Number", "") if v.get("Caller-Context", "").startswith("hotline_") else ""
        for candidate in (v.get("variable_hotline_node", ""), last.split(".", 1)[0]):
            if candidate and candidate not in ("hotline", "hotline_entry") and candidate not in nodes:
                nodes.append(candidate)
    cause = v.get("Hangup-Cause") or v.get("variable_hangup_cause", "")
    answer = _epoch(v, "answer")
    outcome, agent = _outcome(v, cause, answer is not None, history)
    paths = [v.get("variable_hotline_recording", "")] + list(recordings or [])
    customer = v.get("variable_hotline_customer_id", "")
    caller = v.get("Caller-Caller-ID-Number") or v.get("variable_caller_id_number", "")
    return CallSummary(
        call_uuid=v.get("Unique-ID") or v.get("variable_uuid", ""),
        caller=normalise_key(caller, default_area_code) or caller,
        did=v.get("variable_hotline_did", ""),
        flow=flow,
        nodes=nodes,
        start=_epoch(v, "start"),
        answer=answer,
        end=_epoch(v, "end"),
        outcome=outcome,
        hangup_cause=cause,
        queue=v.get("variable_cc_queue", ""),
        agent=agent,
        recording=",".join(dict.fromkeys(p for p in paths if p)),
        lookup_status=v.get("variable_hotline_lookup_status", ""),
        customer_id=int(customer) if customer.isdigit() else None,
    )


# --- the spool -------------------------------------------------------------------------------

class Spool:
    """Append-only JSON-lines file of records the database has not taken yet."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def append(self, records: list[CallSummary]) -> None:
        """Write and fsync: once this returns the records survive a crash of esl_app."""
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(r.to_json() + "\n" for r in records).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def read(self) -> tuple[list[CallSummary], int]:
        """Every complete record, and the byte length they occupy (a torn last line is left out)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        records: list[CallSummary] = []
        used = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # being written when esl_app died; it was never acknowledged
            used += len(line)
            try:
                records.append(CallSummary.from_json(line.decode("utf-8")))
            except (ValueError, TypeError) as exc:
                event(log, logging.ERROR, "unreadable spool line skipped", path=str(self.path), error=str(exc))
        return records, used

    def consume(self, used: int) -> None:
        """Drop the first ``used`` bytes (replayed), keeping anything appended after them."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        rest = data[used:]
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(rest)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


# --- writing ---------------------------------------------------------------------------------

def upsert(database: peewee.Database, records: list[CallSummary]) -> None:
    """Insert or update by call uuid, all in one transaction."""
    if not records:
        return
    rows = [r.row() for r in {r.call_uuid: r for r in records if r.call_uuid}.values()]
    update = [f for f in CallRecord._meta.sorted_fields if f.name not in ("id", "call_uuid")]
    with database.atomic():
        for i in range(0, len(rows), 200):
            (CallRecord.insert_many(rows[i:i + 200])
             .on_conflict(conflict_target=[CallRecord.call_uuid], preserve=update)
             .execute())


class CallRecorder:
    """Turns hangup events into call records (see the module docstring).

    ``on_event`` is the :class:`~esl_app.switch.SwitchLink` event callback; it only queues. A
    writer greenlet hands batches to one worker thread, which writes them or spools them.
    """

    def __init__(self, database: peewee.Database, spool_path: str | os.PathLike[str], *,
                 default_area_code: str = "", retry_s: float = 2.0, batch: int = 500):
        self.database = database
        self.spool = Spool(spool_path)
        self.default_area_code = default_area_code
        self.retry_s = retry_s
        self.batch = batch
        self.queue: gevent.queue.Queue[CallSummary | None] = gevent.queue.Queue()
        self.pool = ThreadPool(1)
        self.recordings: dict[str, list[str]] = {}
        self.written = 0
        self.spooled = 0
        self.replayed = 0
        self.rejected = 0
        self._writer: gevent.Greenlet | None = None
        self._retry: gevent.Greenlet | None = None

    # -- events in -----------------------------------------------------------------------------

    def on_event(self, msg: Message) -> None:
        ev = parse_event(msg)
        if isinstance(ev, ProtocolError):
            event(log, logging.WARNING, "unreadable event from the switch", error=ev.message)
            return
        self.handle(ev.headers)

    def handle(self, headers: Mapping[str, str]) -> None:
        name = headers.get("Event-Name", "")
        uuid = headers.get("Unique-ID", "")
        if name == "RECORD_STOP":
            path = headers.get("Record-File-Path", "")
            if uuid and path and headers.get("variable_RECORD_DISCARDED") != "true":
                self.recordings.setdefault(uuid, []).append(path)
                if len(self.recordings) > 10000:  # hangups we never saw (link lost): forget the oldest
                    del self.recordings[next(iter(self.recordings))]
            return
        if name != "CHANNEL_HANGUP_COMPLETE" or not headers.get("variable_hotline_flow"):
            return
        summary = summarise(headers, self.recordings.pop(uuid, None), self.default_area_code)
        if summary.call_uuid:
            self.queue.put(summary)

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._writer is None:
            self._writer = gevent.spawn(self._write_loop)
            self._retry = gevent.spawn(self._retry_loop)

    def _write_loop(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.batch:
                try:
                    item = self.queue.get_nowait()
                except gevent.queue.Empty:
                    break
                if item is None:
                    self.pool.spawn(self._keep, batch).get()
                    return
                batch.append(item)
            self.pool.spawn(self._keep, batch).get()

    def _retry_loop(self) -> None:
        while True:
            gevent.sleep(self.retry_s)
            if self.spool.pending():
                self.pool.spawn(self._keep, []).get()

    def stop(self, timeout: float = 10.0) -> None:
        """Write (or spool) everything queued, then stop."""
        if self._retry is not None:
            self._retry.kill()
        if self._writer is not None:
            self.queue.put(None)
            self._writer.join(timeout=timeout)
            if not self._writer.dead:
                self._writer.kill()
        leftovers = []
        while True:
            try:
                item = self.queue.get_nowait()
            except gevent.queue.Empty:
                break
            if item is not None:
                leftovers.append(item)
        if leftovers:
            self.pool.spawn(self._keep, leftovers).get()
        self.pool.kill()

    # -- the worker thread ---------------------------------------------------------------------

    def _keep(self, batch: list[CallSummary]) -> None:
        """Replay the spool if any, then write the batch; if the database fails, spool the batch."""
        try:
            if self.spool.pending():
                records, used = self.spool.read()
                self._write(records)
                self.spool.consume(used)
                self.replayed += len(records)
                event(log, logging.INFO, "spooled call records written", records=len(records))
            self._write(batch)
            self.written += len(batch)
        except _UNAVAILABLE as exc:
            self._reset()
            try:
                self.spool.append(batch)
            except OSError as err:
                event(log, logging.ERROR, "call records lost: database and spool both failed",
                      records=len(batch), error=str(err), db_error=str(exc).strip())
                return
            self.spooled += len(batch)
            if batch:
                event(log, logging.WARNING, "database unavailable, call records spooled", records=len(batch),
                      spool=str(self.spool.path), error=f"{type(exc).__name__}: {str(exc).strip()}")

    def _write(self, records: list[CallSummary]) -> None:
        if not records:
            return
        try:
            upsert(self.database, records)
        except _UNAVAILABLE:
            raise
        except peewee.DatabaseError as exc:
            # One bad record (a deleted customer's id, say) must not hold back the others.
            event(log, logging.WARNING, "call record batch refused, writing one by one", error=str(exc).strip())
            for record in records:
                try:
                    upsert(self.database, [record])
                except _UNAVAILABLE:
                    raise
                except peewee.DatabaseError:
                    record.customer_id = None
                    try:
                        upsert(self.database, [record])
                    except _UNAVAILABLE:
                        raise
                    except peewee.DatabaseError as err:
                        self.rejected += 1
                        event(log, logging.ERROR, "call record refused by the database", uuid=record.call_uuid,
                              caller=record.caller, error=str(err).strip())

    def _reset(self) -> None:
        """Drop this thread's connection so the next attempt reconnects (server restarted)."""
        try:
            if not self.database.in_transaction():
                self.database.close()
        except Exception:
            log.debug("closing the database connection failed", exc_info=True)

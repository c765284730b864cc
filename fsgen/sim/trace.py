"""Call trace in the fs-reference format (JSON lines ``{"t", "leg", "event", ...}``).

Legs are labelled as fs_trace.py does: harness legs are "a", every other channel gets
"b", "c", "d", ... in order of its first recorded event.  Only the projection that
``compare.py`` keeps has to match real FreeSWITCH; the other records (create, park,
hangup_complete, error) help a person read the trace.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel


def _label(n: int) -> str:
    letters = "bcdefghijklmnopqrstuvwxyz"
    if n < len(letters):
        return letters[n]
    return "x%d" % n


class Trace:
    def __init__(self, engine: Any):
        self.engine = engine
        self.records: list[dict[str, Any]] = []
        self._labels: dict[str, str] = {}
        self._count = 0
        self.enabled = True
        self._now, self._t = 0.0, 0.0       # the last instant recorded and its rounded time

    def leg(self, channel: Channel) -> str:
        label = self._labels.get(channel.uuid)
        if label is None:
            if channel.harness:
                label = "a"
            else:
                label = _label(self._count)
                self._count += 1
            self._labels[channel.uuid] = label
        return label

    def leg_of_uuid(self, uuid: str) -> str | None:
        return self._labels.get(uuid)

    def meta(self, **fields: Any) -> None:
        rec: dict[str, Any] = {"t": 0.0, "leg": "-", "event": "meta"}
        rec.update(fields)
        self.records.insert(0, rec)

    def add(self, channel: Channel | None, event: str, **fields: Any) -> None:
        # Channel.emit has a copy of this (keep them alike)
        if not self.enabled:
            return
        if channel is None:
            leg = "-"
        else:
            leg = self._labels.get(channel.uuid) or self.leg(channel)
        now = self.engine.now
        if now != self._now:            # many records share an instant: round once
            self._now, self._t = now, round(now, 3)
        self.records.append({"t": self._t, "leg": leg, "event": event, **fields})

    def error(self, channel: Channel | None, kind: str, message: str, **fields: Any) -> None:
        """An error the simulator hit (unknown application, bad argument...): always kept."""
        was, self.enabled = self.enabled, True
        self.add(channel, "error", kind=kind, message=message, **fields)
        self.enabled = was

    def errors(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") == "error"]

    def dump(self, out: TextIO) -> None:
        out.writelines(json.dumps(rec, ensure_ascii=False) + "\n" for rec in self.records)

    def lines(self) -> list[str]:
        return [json.dumps(r, ensure_ascii=False) for r in self.records]

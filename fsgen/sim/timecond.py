"""Time-of-day attributes of dialplan conditions (switch_xml_std_datetime_check).

Evaluated against the simulator's wall clock; the zone is the ``tod_tz_offset`` channel
variable (whole hours) if numeric, else the ``timezone`` variable (an IANA name), else the
simulator's local zone (FreeSWITCH's process zone; UTC on the reference rig).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone, tzinfo

from .xmltree import XElement

TIME_ATTRS = ("date-time", "year", "yday", "mon", "mday", "week", "mweek", "wday", "hour",
              "minute", "minute-of-day", "time-of-day", "tz-offset", "dst")

_DOW = {"sun": 1, "mon": 2, "tue": 3, "wed": 4, "thu": 5, "fri": 6, "sat": 7}


def _number_cmp(spec: str, value: int) -> bool:
    """switch_number_cmp: comma list of N or A-B (inclusive)."""
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            a, b = part.split("-", 1) if not part.startswith("-") else ("-" + part[1:].split("-", 1)[0],
                                                                        part[1:].split("-", 1)[1])
            try:
                lo, hi = int(a), int(b)
            except ValueError:
                continue
            if lo <= hi and lo <= value <= hi:
                return True
            if lo > hi and (value >= lo or value <= hi):
                return True
        else:
            try:
                if int(part) == value:
                    return True
            except ValueError:
                continue
    return False


def _dow(token: str) -> int | None:
    token = token.strip().lower()
    if token[:3] in _DOW:
        return _DOW[token[:3]]
    try:
        return int(token)
    except ValueError:
        return None


def _dow_cmp(spec: str, value: int) -> bool:
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = (_dow(x) for x in part.split("-", 1))
            if a is None or b is None:
                continue
            if a <= b and a <= value <= b:
                return True
            if a > b and (value >= a or value <= b):
                return True
        elif _dow(part) == value:
            return True
    return False


def _tod_seconds(s: str) -> int | None:
    bits = s.strip().split(":")
    try:
        nums = [int(b) for b in bits]
    except ValueError:
        return None
    while len(nums) < 3:
        nums.append(0)
    return nums[0] * 3600 + nums[1] * 60 + nums[2]


def _tod_cmp(spec: str, value: int) -> bool:
    for part in spec.split(","):
        a, sep, b = part.partition("-")
        lo = _tod_seconds(a)
        hi = _tod_seconds(b) if sep else lo
        if lo is None or hi is None:
            continue
        if lo <= hi and lo <= value <= hi:
            return True
        if lo > hi and (value >= lo or value <= hi):
            return True
    return False


def _fulldate_cmp(spec: str, epoch: float, tz: tzinfo) -> bool:
    for part in spec.split(","):
        a, sep, b = part.partition("~")
        if not sep:
            continue
        try:
            lo = _parse_dt(a.strip(), tz)
            hi = _parse_dt(b.strip(), tz)
        except ValueError:
            continue
        if lo <= epoch <= hi:
            return True
    return False


_PARSED: dict[tuple[str, tzinfo], float | None] = {}


def _parse_dt(s: str, tz: tzinfo) -> float:
    """Epoch of a date-time bound (strptime is slow and holiday lists repeat: remembered)."""
    key = (s, tz)
    if key in _PARSED:
        got = _PARSED[key]
    else:
        got = None
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                got = datetime.strptime(s, fmt).replace(tzinfo=tz).timestamp()
                break
            except ValueError:
                continue
        if len(_PARSED) > 4096:
            _PARSED.clear()
        _PARSED[key] = got
    if got is None:
        raise ValueError(s)
    return got


def has_time_attrs(cond: XElement) -> bool:
    return any(a in cond.attrib for a in TIME_ATTRS)


def check(cond: XElement, epoch: float, tz: tzinfo) -> int:
    """-1 if the element has no time attributes, else 1 (match) / 0 (no match)."""
    if not has_time_attrs(cond):
        return -1
    tm = datetime.fromtimestamp(epoch, tz)
    a = cond.attrib
    offset_hours = int((tm.utcoffset() or timedelta(0)).total_seconds() // 3600)
    if "tz-offset" in a:
        try:
            if int(a["tz-offset"]) != offset_hours:
                return 0
        except ValueError:
            pass
    if "dst" in a:
        is_dst = bool(tm.dst())
        if is_dst != (a["dst"].strip().lower() in ("yes", "true", "on", "1")):
            return 0
    yday = tm.timetuple().tm_yday  # 1-based
    wday = (tm.weekday() + 1) % 7 + 1  # Sunday = 1
    for name in TIME_ATTRS:
        spec = a.get(name)
        if spec is None or name in ("tz-offset", "dst"):
            continue
        if name == "date-time":
            ok = _fulldate_cmp(spec, epoch, tz)
        elif name == "wday":
            ok = _dow_cmp(spec, wday)
        elif name == "time-of-day":
            ok = _tod_cmp(spec, tm.hour * 3600 + tm.minute * 60 + tm.second)
        else:
            ok = _number_cmp(spec, _number(name, tm, yday, wday))
        if not ok:
            return 0
    return 1


def _number(name: str, tm: datetime, yday: int, wday: int) -> int:
    """The value a numeric time attribute compares with."""
    if name == "year":
        return tm.year
    if name == "yday":
        return yday
    if name == "mon":
        return tm.month
    if name == "mday":
        return tm.day
    if name == "week":
        return (yday - 1) // 7 + 1
    if name == "mweek":
        return _mweek(tm.day, wday - 1)
    if name == "hour":
        return tm.hour
    if name == "minute":
        return tm.minute
    return tm.hour * 60 + tm.minute + 1   # minute-of-day


def _mweek(mday: int, tm_wday: int) -> int:
    firstdow = (7 - (mday - (tm_wday + 1)) % 7) % 7
    return math.ceil((mday + firstdow) / 7.0)


def zone_for(offset_hours: int | None, name: str | None, default: tzinfo) -> tzinfo:
    if offset_hours is not None:
        return timezone(timedelta(hours=offset_hours))
    if name:
        try:
            from zoneinfo import ZoneInfo
            return ZoneInfo(name)
        except (KeyError, ValueError, OSError):  # unknown zone name: FreeSWITCH falls back to local time
            return default
    return default

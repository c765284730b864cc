"""Time-of-day attributes of dialplan conditions (switch_xml_std_datetime_check).

Evaluated against the simulator's wall clock.  The zone comes from check_tz() of
mod_dialplan_xml: the ``tod_tz_offset`` channel variable (whole hours) when it is a number
as switch_is_number() sees it, else the ``timezone`` variable (an IANA name), else the
process zone (UTC on the reference rig).  Two attributes ignore the channel's zone, as in
FreeSWITCH: ``dst`` looks at the process zone's daylight saving time, and ``date-time``
bounds are read as process-local times (switch_str_time).

The list syntaxes are FreeSWITCH's own parsers (switch_utils.c), quirks included:
switch_number_cmp (strtol walk: ``N``, ``A-B``, comma lists, reversed ranges wrap),
switch_dow_cmp (tokens ``1``-``7`` or three-letter day names), switch_tod_cmp
(``H:M[:S]-H:M[:S]`` pieces, both ends included) and switch_fulldate_cmp (``start~end``
pieces, end excluded, a piece it cannot parse ends the list).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from .cstr import atoi, is_number, strtol, switch_true
from .xmltree import XElement

TIME_ATTRS = ("date-time", "year", "yday", "mon", "mday", "week", "mweek", "wday", "hour",
              "minute", "minute-of-day", "time-of-day", "tz-offset", "dst")

_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
def number_cmp(spec: str, value: int) -> bool:
    """switch_number_cmp: ``N``, ``A-B`` (``A > B`` wraps around) and comma lists of them."""
    i = 0
    n = len(spec)
    while True:
        a, i = strtol(spec, i)
        if i < n and spec[i] == "-":
            b, i = strtol(spec, i + 1)
            if (a <= b and a <= value <= b) or (a > b and (value >= a or value <= b)):
                return True
        elif a == value:
            return True
        if i >= n or spec[i] != ",":
            return False
        i += 1


_EOF, _ERR, _HYPHEN, _COMMA = -1, -2, ord("-"), ord(",")


def _dow_token(s: str, i: int) -> tuple[int, int]:
    if i >= len(s):
        return _EOF, i
    c = s[i]
    if c == "-":
        return _HYPHEN, i + 1
    if c == ",":
        return _COMMA, i + 1
    if "1" <= c <= "7":
        return ord(c) - 48, i + 1
    head = s[i:i + 3].lower()
    if head in _DOW_NAMES:
        return _DOW_NAMES.index(head) + 1, i + 3
    return _ERR, i


def dow_cmp(spec: str, value: int) -> bool:
    """switch_dow_cmp: tokens ``1``-``7`` / sun..sat (first three letters only), ``-`` ranges
    (reversed ones wrap), ``,``; anything else stops the parse."""
    prev = range_start = _EOF
    i = 0
    while True:
        cur, i = _dow_token(spec, i)
        if cur == _EOF or cur == _ERR:
            return False
        if cur == _COMMA:
            cur = _EOF
        elif cur == _HYPHEN:
            range_start = prev
        elif range_start != _EOF:
            if ((range_start <= cur and range_start <= value <= cur)
                    or (range_start > cur and (value >= range_start or value <= cur))):
                return True
            range_start = _EOF
        elif value == cur:
            return True
        prev = cur


def tod_cmp(spec: str, value: int) -> bool:
    """switch_tod_cmp: comma list of ``H:M[:S]-H:M[:S]`` (both ends included, a reversed
    range wraps past midnight); a piece without both colons and the dash never matches."""
    for piece in spec.split(","):
        colon = piece.find(":")
        if colon < 0:
            continue
        minh, rest = piece[:colon], piece[colon + 1:]
        dash = rest.find("-")
        if dash < 0:
            continue
        colon2 = rest.find(":", dash)
        if colon2 < 0:
            continue
        minm, maxh, maxm = rest[:dash], rest[dash + 1:colon2], rest[colon2 + 1:]
        minm, sep, mins = minm.partition(":")
        if not sep:
            mins = "00"
        maxm, sep, maxs = maxm.partition(":")
        if not sep:
            maxs = "00"
        lo = atoi(minh) * 3600 + atoi(minm) * 60 + atoi(mins)
        hi = atoi(maxh) * 3600 + atoi(maxm) * 60 + atoi(maxs)
        if (lo <= hi and lo <= value <= hi) or (lo > hi and (value >= lo or value <= hi)):
            return True
    return False


_TIME_ONLY = re.compile(r"([0-9]*):?([0-9]*):?([0-9]*)$")   # PCRE's $: also before a final newline
_DATE = re.compile(r"([0-9]+)-([0-9]+)-([0-9]+)[ \t\n\r\f\v]*([0-9]*):?([0-9]*):?([0-9]*)")
_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})")


def _local_epoch(y: int, mon: int, d: int, h: int, mi: int, s: int, local: tzinfo) -> float | None:
    """apr_time_exp_get of the broken-down time, less the local UTC offset there (what
    switch_str_time does); day/hour/minute overflow carries over, a bad month fails."""
    if not 1 <= mon <= 12:
        return None
    try:
        naive = datetime(y, mon, 1, tzinfo=UTC) + timedelta(days=d - 1, hours=h, minutes=mi, seconds=s)
    except (ValueError, OverflowError):
        return None
    n = naive.timestamp()
    if n < 0:
        return None
    off = datetime.fromtimestamp(n, local).utcoffset() or timedelta(0)
    return n - off.total_seconds()


def str_time(s: str, now: float, local: tzinfo) -> float | None:
    """switch_str_time(): epoch seconds of a date-time bound read in the process zone, or None
    (FreeSWITCH's 0) when it cannot be parsed.  ``H[:M[:S]]`` alone is today at that time."""
    m = _TIME_ONLY.match(s)
    if m is not None:
        g = m.groups()
        today = datetime.fromtimestamp(now, local)
        base = _local_epoch(today.year, today.month, today.day, atoi(g[0]), atoi(g[1]), atoi(g[2]), local)
        return None if base is None else base + (now - int(now))   # tm_usec is left as it was
    m = _DATE.match(s) or _COMPACT.match(s)
    if m is None:
        return None
    y, mon, d, h, mi, sec = (atoi(x) for x in m.groups())
    return _local_epoch(y, mon, d, h, mi, sec, local)


def fulldate_cmp(spec: str, epoch: float, local: tzinfo) -> bool:
    """switch_fulldate_cmp: comma list of ``start~end`` (start <= now < end); a piece whose
    bounds do not parse ends the list, one without ``~`` is skipped."""
    for piece in spec.split(","):
        start, sep, end = piece.partition("~")
        if not sep:
            continue
        lo = str_time(start, epoch, local)
        hi = str_time(end, epoch, local)
        if lo is None or hi is None:
            return False
        if lo <= epoch < hi:
            return True
    return False


def has_time_attrs(cond: XElement) -> bool:
    return any(a in cond.attrib for a in TIME_ATTRS)


def check(cond: XElement, epoch: float, tz: tzinfo, local: tzinfo | None = None,
          offset_hours: int | None = None) -> int:
    """switch_xml_std_datetime_check: -1 when no time attribute applies, else 1 / 0.
    ``tz`` is the channel's zone, ``local`` the process zone (defaults to ``tz``),
    ``offset_hours`` the numeric ``tod_tz_offset`` when the channel has one."""
    a = cond.attrib
    if local is None:
        local = tz
    tm = datetime.fromtimestamp(epoch, tz)
    match = -1
    if "tz-offset" in a:
        if offset_hours is not None:
            eoffset = offset_hours
        else:
            eoffset = int((tm.utcoffset() or timedelta(0)).total_seconds() / 3600)   # C division truncates
        tzo = a["tz-offset"]
        loffset = atoi(tzo) if tzo and is_number(tzo) else eoffset
        match = int(loffset == eoffset)
    dst_spec = a.get("dst")
    if match and dst_spec:
        local_dst = bool(datetime.fromtimestamp(epoch, local).dst())
        match = int(local_dst and switch_true(dst_spec))   # dst="false" never matches
    if not match:
        return 0
    tt = tm.timetuple()
    wday = tt.tm_wday + 1 if tt.tm_wday < 6 else 0   # C tm_wday: Sunday = 0
    for name in ("date-time", "year", "yday", "mon", "mday", "week", "mweek", "wday", "hour",
                 "minute", "minute-of-day", "time-of-day"):
        value = a.get(name)
        if value is None:
            continue
        spec = value
        if name == "date-time":
            ok = fulldate_cmp(spec, epoch, local)
        elif name == "wday":
            ok = dow_cmp(spec, wday + 1)
        elif name == "time-of-day":
            ok = tod_cmp(spec, tm.hour * 3600 + tm.minute * 60 + tm.second)
        else:
            ok = number_cmp(spec, _number(name, tm, tt.tm_yday - 1, wday))
        if not ok:
            return 0
        match = 1
    return match


def _number(name: str, tm: datetime, yday0: int, wday0: int) -> int:
    """The value a numeric time attribute compares with (``yday0``/``wday0``: C's 0-based
    tm_yday and tm_wday)."""
    if name == "year":
        return tm.year
    if name == "yday":
        return yday0 + 1
    if name == "mon":
        return tm.month
    if name == "mday":
        return tm.day
    if name == "week":
        return yday0 // 7 + 1
    if name == "mweek":
        firstdow = (7 - (tm.day - (wday0 + 1)) % 7) % 7
        return -(-(tm.day + firstdow) // 7)    # ceil
    if name == "hour":
        return tm.hour
    if name == "minute":
        return tm.minute
    return tm.hour * 60 + tm.minute + 1   # minute-of-day


def channel_zone(tod_tz_offset: str | None, tz_name: str | None, local: tzinfo) -> tuple[tzinfo, int | None]:
    """check_tz() of mod_dialplan_xml: (zone, offset hours or None).  ``tod_tz_offset`` counts
    when switch_is_number() accepts it (atoi of it: ``5.5`` is 5), else ``timezone``."""
    if tod_tz_offset and is_number(tod_tz_offset):
        hours = atoi(tod_tz_offset)
        return timezone(timedelta(hours=hours)), hours
    if tz_name:
        return zone_for(None, tz_name, local), None
    return local, None


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

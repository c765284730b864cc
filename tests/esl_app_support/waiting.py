"""Polling for a condition that another greenlet, thread or process brings about."""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """True as soon as ``predicate()`` is; after ``timeout`` seconds, its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        gevent.sleep(0.05)
    return bool(predicate())

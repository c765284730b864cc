"""Fast paths of the simulator give exactly what the general code gives.

The general code stays the reference: each test runs both (on many random inputs where the
input space is wide) and compares.
"""

from __future__ import annotations

import random

from fsgen.sim.apps.args import _separate_quoted, separate


def test_separate_without_quotes_equals_the_character_loop() -> None:
    r = random.Random(20261123)
    for _ in range(20000):
        text = "".join(r.choice("ab ,/\t'") for _ in range(r.randint(0, 12)))
        sep = r.choice([" ", ",", "/"])
        maxparts = r.choice([0, 0, 1, 2, 3, 4, 8])
        assert separate(text, sep, maxparts) == _separate_quoted(text, sep, maxparts), (text, sep, maxparts)


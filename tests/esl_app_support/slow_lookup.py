"""A site lookup module for the SIGTERM test: importing it registers ``slow`` (sleeps 0.6 s)."""

import time

from esl_app.lookups import lookup


@lookup("slow", defaults={"hotline_slow": "false"})
def slow(ctx):
    time.sleep(0.6)
    return {"hotline_slow": "true"}

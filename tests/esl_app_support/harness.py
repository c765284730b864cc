"""An in-process esl_app server plus the scripted switch that dials it (used by the server tests)."""

from __future__ import annotations

from esl_app.config import Config
from esl_app.lookups import LookupRunner
from esl_app.server import HotlineServer, lookup_application

from .fake_fs import FakeSwitch


class RunningServer:
    """An in-process esl_app server on 127.0.0.1:<ephemeral> plus a scripted switch dialling it."""

    def __init__(self, config: Config, database, registry=None):
        self.config = config
        self.runner = LookupRunner(config, database, registry)
        self.server = HotlineServer(config, lookup_application(self.runner, config))
        self.server.start()
        host, port = self.server.address
        self.switch = FakeSwitch(host, port)

    def call(self, *args, **kwargs):
        return self.switch.call(*args, **kwargs)

    def close(self) -> None:
        try:
            self.server.stop(grace=2)
        finally:
            self.runner.close()

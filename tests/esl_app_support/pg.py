"""A throwaway PostgreSQL cluster on 127.0.0.1 and an ephemeral port, for real-server tests.

Uses Debian's ``postgresql`` package binaries (initdb, pg_ctl). As root (CI and these machines) the
cluster runs as the ``postgres`` user through ``runuser``, with its data directory in a temporary
folder owned by that user. :func:`start_cluster` raises :class:`PostgresUnavailable` with the reason
when the binaries are missing or the server does not start, so tests can skip visibly.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass


class PostgresUnavailable(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    bindir: str
    datadir: str
    workdir: str
    port: int
    run_as: list[str]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.run_as, *args], check=False, capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        # fsync off is safe here (a crash of the machine loses a throwaway cluster); synchronous_commit
        # stays on so committed rows survive the immediate stop that tests use to kill the server.
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=off "
                "-c full_page_writes=off -c max_connections=200")
        proc = self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-o", opts, "-l",
                         f"{self.workdir}/server.log", "-w", "-t", "30", "start")
        if proc.returncode != 0:
            log = ""
            try:
                with open(f"{self.workdir}/server.log") as fh:
                    log = fh.read()[-800:]
            except OSError:
                pass
            raise PostgresUnavailable(f"pg_ctl start failed: {proc.stderr.strip() or proc.stdout.strip()} {log}")

    def stop(self, mode: str = "fast") -> None:
        self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "30", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_cluster() -> Cluster:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    bindir = os.path.dirname(found[-1])
    workdir = tempfile.mkdtemp(prefix="hotline-pg-")
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            raise PostgresUnavailable("running as root but there is no postgres user to run the server") from None
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    datadir = os.path.join(workdir, "data")
    cluster = Cluster(bindir, datadir, workdir, _free_port(), run_as)
    proc = cluster._run(f"{bindir}/initdb", "-D", datadir, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                        "--locale=C", "--no-sync", timeout=120)
    if proc.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {proc.stderr.strip()[-500:]}")
    try:
        cluster.start()
    except (PostgresUnavailable, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise PostgresUnavailable(str(exc)) from None
    return cluster

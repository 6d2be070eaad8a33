"""
A throwaway PostgreSQL cluster for the bench's scale-out rows, through `tests/pg.py`'s helpers.

`tests/pg.py` skips (or fails) through pytest when it cannot run a cluster; the bench checks
those cases first and reports a reason instead, so a machine without PostgreSQL still benches.
"""

from __future__ import annotations

import os
import pwd
import subprocess

from tests.pg import SERVICE_USER, PgServer, _Cluster, find_bin_dir


class Postgres:
    """`start()` gives a reason it cannot run, or None once the cluster serves `server`."""

    def __init__(self) -> None:
        self.cluster: _Cluster | None = None
        self.server: PgServer | None = None

    def start(self) -> str | None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            return "PostgreSQL not installed"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVICE_USER)
            except KeyError:
                return f"running as root and no {SERVICE_USER!r} user to run PostgreSQL as"
        self.cluster = _Cluster(bin_dir)
        try:
            self.cluster.init()
            port = self.cluster.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            self.stop()
            return f"PostgreSQL did not start ({str(error).strip().splitlines()[0]})"
        self.server = PgServer(host="127.0.0.1", port=port, socket_dir=self.cluster.sockets)
        return None

    async def database_url(self) -> str:
        """The DATABASE_URL of a new, empty database."""
        assert self.server is not None
        return self.server.url(await self.server.create_database())

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None

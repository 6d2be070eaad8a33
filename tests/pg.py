"""
A throwaway PostgreSQL server for the store tests: Debian's binaries, a temporary cluster.

`pg_server` (session-scoped) runs `initdb` into a temporary folder and starts `postgres` on
127.0.0.1 with an ephemeral port and a unix socket in a temporary folder; it is stopped and
deleted at the end of the session. `pg_url` gives each test an empty schema of its own, which
the store sees as an empty database (the URL's `?search_path=` puts its tables there): creating a
database costs about 0.2 s, a schema well under a millisecond. Tests that need a database of
their own (several processes starting together) use `PgServer.create_database`.

Where no PostgreSQL binary exists, the tests that need it are skipped with the reason, except
when the environment variable CI is set: then they fail, so CI can never skip them silently.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest

#: The superuser the test cluster is created with, and its password (TCP logins need it; the
#: unix socket trusts local users, as Debian's own clusters do).
SUPERUSER = "ticketlens_test"
PASSWORD = "pg-" + secrets.token_hex(12)
#: initdb and postgres refuse to run as root; as root, the cluster belongs to this user
#: (created by Debian's postgresql package).
SERVICE_USER = "postgres"

_INSTALL_HINT = "install Debian's postgresql package, or put initdb and pg_ctl on PATH"


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail under CI: CI installs PostgreSQL, so missing it there is a broken job."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not installed: {reason}")


def find_bin_dir() -> Path | None:
    """The folder with initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, or PATH."""

    def version(initdb: str) -> int:
        name = Path(initdb).parent.parent.name
        return int(name) if name.isdigit() else 0

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if debian:
        return Path(debian[-1]).parent
    # Debian's /usr/bin wrappers do not include initdb; other systems put it on PATH.
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    return None


def _free_port() -> int:
    # The port is free now; postgres binds it a moment later. A clash is retried by the caller.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class PgServer:
    """A running test cluster: where it listens and how to log in."""

    host: str
    port: int
    socket_dir: Path

    def url(self, database: str, *, scheme: str = "postgresql") -> str:
        """A TCP URL with the password, as a deployment's DATABASE_URL would be."""
        return f"{scheme}://{SUPERUSER}:{PASSWORD}@{self.host}:{self.port}/{database}"

    def socket_url(self, database: str) -> str:
        """A unix-socket URL (`?host=/folder`), no password: the socket trusts local users."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    async def create_schema(self) -> str:
        """The URL of a new, empty schema in the `postgres` database, as its search_path
        (asyncpg passes unknown URL parameters on as server settings)."""
        name = "s_" + secrets.token_hex(6)
        conn = await asyncpg.connect(self.url("postgres"))
        try:
            # The name is ours (hex), never input; CREATE SCHEMA takes no parameters.
            await conn.execute(f'CREATE SCHEMA "{name}"')
        finally:
            await conn.close()
        return f"{self.url('postgres')}?search_path={name}"

    async def create_database(self) -> str:
        """A new, empty database; its name."""
        name = "t_" + secrets.token_hex(6)
        conn = await asyncpg.connect(self.url("postgres"))
        try:
            # The name is ours (hex), never input; CREATE DATABASE takes no parameters.
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name


class _Cluster:
    """initdb, pg_ctl start and stop, run as `SERVICE_USER` when this process is root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="ticketlens-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                service = pwd.getpwnam(SERVICE_USER)
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                _unavailable(
                    f"running as root, and no {SERVICE_USER!r} user exists to run the server as "
                    "(Debian's postgresql package creates it)"
                )
            self.as_user = ["runuser", "-u", SERVICE_USER, "--"]
            os.chown(self.root, service.pw_uid, service.pw_gid)
        self.sockets.mkdir()
        if self.as_user:
            os.chown(self.sockets, service.pw_uid, service.pw_gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Our own binaries and arguments: nothing here comes from outside the test run.
        return subprocess.run(  # noqa: S603
            [*self.as_user, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_user:
            service = pwd.getpwnam(SERVICE_USER)
            os.chown(pwfile, service.pw_uid, service.pw_gid)
        done = self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--pwfile",
            str(pwfile),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            # Not the host's locale: the tests must not depend on it (the schema says its own
            # collation where ordering matters).
            "--locale=C.UTF-8",
            "--no-sync",
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> int:
        for _ in range(5):
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {self.sockets}"
                # A throwaway cluster: durability buys nothing and costs seconds per test run.
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=200"
            )
            done = self._run(
                str(self.bin_dir / "pg_ctl"),
                "--pgdata",
                str(self.data),
                "--log",
                str(self.log),
                "--options",
                options,
                "--wait",
                "start",
            )
            if done.returncode == 0:
                return port
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        raise RuntimeError(f"postgres did not start:\n{done.stdout}\n{done.stderr}\n{log}")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(
                str(self.bin_dir / "pg_ctl"), "--pgdata", str(self.data), "-m", "fast", "stop"
            )
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session (skips, or fails under CI, without one)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _unavailable(f"no initdb in /usr/lib/postgresql/*/bin or on PATH ({_INSTALL_HINT})")
    cluster = _Cluster(bin_dir)
    try:
        cluster.init()
        port = cluster.start()
        yield PgServer(host="127.0.0.1", port=port, socket_dir=cluster.sockets)
    finally:
        cluster.stop()


@pytest.fixture
async def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty schema on the test server, which the store sees as an empty
    database (dropped with the server)."""
    return await pg_server.create_schema()

"""A throwaway PostgreSQL server for the tests: one per test session, started on first use.

It runs from Debian's `postgresql` package (initdb and pg_ctl under /usr/lib/postgresql/*/bin),
listens only on a unix socket in a temp folder, and is stopped and deleted at the end. Each test
gets a database of its own. PostgreSQL refuses to run as root, so as root the server runs as the
`postgres` user the package creates.

Without the package the PostgreSQL variants are skipped, unless COMPANION_TEST_POSTGRES=required
(`make test` sets it): then a missing server is a failure, so CI cannot pass on SQLite alone.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgresql")


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    found = [p for p in found if os.path.exists(f"{p}/initdb") and os.path.exists(f"{p}/pg_ctl")]
    return Path(found[-1]) if found else None


class PgServer:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="ember-pg-"))
        self.data, self.sock = self.root / "data", self.root / "sock"
        self.sock.mkdir()
        self._as = []
        if os.geteuid() == 0:  # initdb and postgres refuse root
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._names = itertools.count(1)

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self.bindir / tool), *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-800:]}")

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"
        )
        # Durability off: a test server holds nothing worth an fsync, and the suite must stay fast.
        options = (
            f"-c listen_addresses='' -c unix_socket_directories={self.sock} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.sock}"

    def create_database(self) -> str:
        import psycopg

        name = f"t{next(self._names)}"
        with psycopg.connect(host=str(self.sock), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL server (skipped, or failed when required, without the package)."""
    required = os.environ.get("COMPANION_TEST_POSTGRES") == "required"
    bindir = _bindir()
    problem = None
    if bindir is None:
        problem = "PostgreSQL is not installed (Debian: apt-get install postgresql)"
    else:
        try:
            import psycopg  # noqa: F401 - imported only to learn whether the driver is installed
        except ImportError:
            problem = "psycopg is not installed (pip install 'psycopg[binary]')"
    if problem:
        if required:
            pytest.fail(f"COMPANION_TEST_POSTGRES=required but {problem}")
        pytest.skip(problem)
    server = PgServer(bindir)
    try:
        server.start()
    except Exception as exc:
        log = server.root / "server.log"
        detail = log.read_text()[-1500:] if log.exists() else ""
        shutil.rmtree(server.root, ignore_errors=True)
        pytest.fail(f"the test PostgreSQL server did not start: {exc}\n{detail}")
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path) -> str:
    """A fresh, empty store URL on each backend: SQLite at tmp_path/companion.db (where
    Settings(data_dir=tmp_path) puts it), or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'companion.db'}"
    return request.getfixturevalue("pg_server").create_database()


def user_rows(url: str, user: str) -> dict[str, int]:
    """Rows per table whose user_id is `user`, counted with a connection of its own (not the Store's)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in inspect(conn).get_table_names():
                columns = [c["name"] for c in inspect(conn).get_columns(table)]
                if "user_id" in columns:
                    out[table] = conn.execute(
                        text(f'SELECT COUNT(*) FROM "{table}" WHERE user_id = :u'), {"u": user}
                    ).scalar()
            return out
    finally:
        engine.dispose()


def stored_bytes(url: str) -> bytes:
    """What the store keeps, as bytes. SQLite: every byte of the database, its WAL and shared-memory
    files. PostgreSQL: every value of every row (its files hold dead tuples until pages are reused,
    and the WAL holds past writes: docs/deploy.md says what forget does and does not promise there)."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    out += [v if isinstance(v, bytes) else str(v).encode() for v in row]
        return b"\n".join(out)
    finally:
        engine.dispose()

"""A throwaway PostgreSQL (15+) cluster for tests, built from the machine's server binaries.

Usage::

    from tests.support import postgres as pg

    @pytest.fixture(scope="session")
    def postgres_server() -> Iterator[pg.ThrowawayPostgres]:
        reason = pg.unavailable_reason()
        if reason:
            if pg.required():
                pytest.fail(f"PostgreSQL is required here but unavailable: {reason}")
            pytest.skip(f"PostgreSQL unavailable: {reason}")
        with pg.ThrowawayPostgres() as server:
            yield server

The cluster lives in a fresh temporary directory (data dir, unix socket dir, server log), listens on
127.0.0.1 only at a free port, trusts every local connection and runs with durability switched off.
``stop()`` shuts it down with ``pg_ctl stop -m immediate`` and removes the directory.  An atexit hook and
a small watchdog process (which notices when the test process dies, even by SIGKILL) make sure a
crashed run does not leave a postgres behind.

``initdb``/``pg_ctl``/``postgres`` refuse to run as root; when this process is root the cluster is
created and run as the ``postgres`` system user (via ``runuser`` or ``setpriv``) and the database
superuser is ``postgres``.  Otherwise the cluster runs as, and the superuser is named after, the
current user.

Binaries are looked up in ``$DESKBRIDGE_PG_BINDIR``, ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin``
(newest first) and ``initdb`` on ``PATH``.  When none is usable, :func:`unavailable_reason` says why;
:func:`required` is true under ``CI=true`` or ``DESKBRIDGE_REQUIRE_POSTGRES=1``, where callers must fail
instead of skipping (:func:`ensure_available` does exactly that).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

__all__ = [
    "MIN_VERSION",
    "PostgresError",
    "PostgresUnavailable",
    "ThrowawayPostgres",
    "available",
    "ensure_available",
    "find_bindir",
    "required",
    "unavailable_reason",
]

MIN_VERSION = 15
"""Oldest PostgreSQL major version accepted."""

SERVER_USER = "postgres"
"""System user the cluster runs as when this process is root."""

_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_START_TIMEOUT = 30
_PORT_ATTEMPTS = 5

# Settings appended to postgresql.conf: loopback only, no durability, quiet log.
_TEST_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "1h",
    "autovacuum": "off",
    "jit": "off",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "timezone": "'UTC'",
}


class PostgresError(RuntimeError):
    """The throwaway cluster could not be created, started or used."""


class PostgresUnavailable(PostgresError):
    """No usable PostgreSQL server binaries (or no way to run them) on this machine."""


# --------------------------------------------------------------------------- discovery


def required() -> bool:
    """True when missing PostgreSQL must be a hard failure rather than a skip (CI, or asked for)."""
    ci = os.environ.get("CI", "").strip().lower()
    forced = os.environ.get("DESKBRIDGE_REQUIRE_POSTGRES", "").strip().lower()
    return ci in {"true", "1", "yes"} or forced in {"1", "true", "yes"}


def _major_version(bindir: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=15,
            stdin=subprocess.DEVNULL,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out) or re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def _candidate_bindirs() -> list[tuple[str, Path]]:
    candidates: list[tuple[str, Path]] = []
    override = os.environ.get("DESKBRIDGE_PG_BINDIR")
    if override:
        candidates.append(("$DESKBRIDGE_PG_BINDIR", Path(override)))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                timeout=15,
                stdin=subprocess.DEVNULL,
                check=False,
            ).stdout.strip()
            if out:
                candidates.append(("pg_config --bindir", Path(out)))

    def version_key(path: Path) -> tuple[int, str]:
        name = path.parent.name
        return (int(name), name) if name.isdigit() else (-1, name)

    for path in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version_key, reverse=True):
        candidates.append(("/usr/lib/postgresql", path))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(("initdb on PATH", Path(os.path.realpath(initdb)).parent))
    return candidates


def _check_bindir(bindir: Path) -> str | None:
    """Why ``bindir`` is unusable, or None."""
    missing = [p for p in _SERVER_PROGRAMS if not os.access(bindir / p, os.X_OK)]
    if missing:
        return f"{bindir} lacks {', '.join(missing)}"
    version = _major_version(bindir)
    if version is None:
        return f"cannot tell the version of {bindir / 'postgres'}"
    if version < MIN_VERSION:
        return f"{bindir / 'postgres'} is PostgreSQL {version}, need {MIN_VERSION}+"
    return None


def _locate() -> tuple[Path | None, str]:
    """First usable binary directory, or None and a reason."""
    problems: list[str] = []
    seen: set[Path] = set()
    for source, bindir in _candidate_bindirs():
        key = Path(os.path.realpath(bindir))
        if key in seen:
            continue
        seen.add(key)
        problem = _check_bindir(bindir)
        if problem is None:
            return bindir, ""
        problems.append(f"{source}: {problem}")
    if not problems:
        return None, (
            "no PostgreSQL server binaries found (no initdb on PATH, no pg_config, nothing in "
            "/usr/lib/postgresql/*/bin); install PostgreSQL 15+ or set DESKBRIDGE_PG_BINDIR"
        )
    return None, "no usable PostgreSQL server binaries: " + "; ".join(problems)


def find_bindir() -> Path | None:
    """Directory holding usable ``initdb``, ``pg_ctl``, ``postgres`` and ``psql`` (15+), or None."""
    return _locate()[0]


def _privilege_drop(user: str) -> tuple[list[str] | None, str]:
    """Command prefix that runs a program as ``user`` (for when we are root), or None and a reason."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None, f"running as root and there is no {user!r} system user to run the server as"
    extra = "/usr/sbin:/sbin:/usr/bin:/bin"
    path = os.environ.get("PATH", "") + os.pathsep + extra
    runuser = shutil.which("runuser", path=path)
    if runuser:
        return [runuser, "-u", user, "--"], ""
    setpriv = shutil.which("setpriv", path=path)
    if setpriv:
        return [setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--"], ""
    return None, "running as root and neither runuser nor setpriv is available to drop privileges"


def unavailable_reason() -> str | None:
    """None when a cluster can be started here, else a human-readable reason."""
    bindir, reason = _locate()
    if bindir is None:
        return reason
    if os.geteuid() == 0:
        prefix, reason = _privilege_drop(SERVER_USER)
        if prefix is None:
            return reason
    return None


def available() -> bool:
    """True when :class:`ThrowawayPostgres` can run on this machine."""
    return unavailable_reason() is None


def ensure_available() -> bool:
    """True when available; False when not but allowed to skip; raises when :func:`required`."""
    reason = unavailable_reason()
    if reason is None:
        return True
    if required():
        raise PostgresUnavailable(
            f"PostgreSQL is required (CI=true or DESKBRIDGE_REQUIRE_POSTGRES=1) but unavailable: {reason}"
        )
    return False


# --------------------------------------------------------------------------- process helpers


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in {"Z", "X"}


def _kill_and_wait(pid: int, timeout: float = 10.0) -> None:
    """SIGQUIT (postgres' immediate shutdown), then SIGKILL if it does not go away."""
    for sig, wait in ((signal.SIGQUIT, timeout), (signal.SIGKILL, 5.0)):
        if not _pid_alive(pid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.02)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _world_traversable(path: Path) -> bool:
    """Whether any user can reach into ``path`` (every ancestor has o+x)."""
    path = path.resolve()
    for part in (path, *path.parents):
        try:
            if not os.stat(part).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _clean_env() -> dict[str, str]:
    """The environment minus libpq/server variables that could redirect our commands elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


# Runs detached from the test process; holds the read end of a pipe whose write end only the test
# process has.  EOF without a "disarm" line means the test process died: kill the postmaster and
# delete the cluster directory.
_WATCHDOG = r"""
import os, shutil, signal, sys, time
pid, root = int(sys.argv[1]), sys.argv[2]
try:
    message = sys.stdin.buffer.read()
except BaseException:
    message = b""
if message.strip() == b"disarm":
    sys.exit(0)

def alive():
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True

for sig, wait in ((signal.SIGQUIT, 10.0), (signal.SIGKILL, 5.0)):
    if not alive():
        break
    try:
        os.kill(pid, sig)
    except OSError:
        pass
    deadline = time.monotonic() + wait
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
shutil.rmtree(root, ignore_errors=True)
"""


# --------------------------------------------------------------------------- the cluster


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temporary directory; a context manager.

    ``url`` is ``postgresql+asyncpg://USER@127.0.0.1:PORT/DBNAME``; :meth:`create_database` makes more
    databases (optionally from a template) on the same server and returns their URLs.
    """

    def __init__(
        self,
        dbname: str = "deskbridge",
        *,
        bindir: str | Path | None = None,
        base_dir: str | Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        _check_identifier(dbname)
        self.dbname = dbname
        self._bindir = Path(bindir) if bindir is not None else None
        self._base_dir = Path(base_dir) if base_dir is not None else None
        self._settings = {**_TEST_SETTINGS, **(settings or {})}
        self._root: Path | None = None
        self._port: int | None = None
        self._pid: int | None = None
        self._user: str | None = None
        self._prefix: list[str] = []
        self._watchdog: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ThrowawayPostgres:
        """initdb, start the server, create :attr:`dbname`.  Returns self."""
        if self._root is not None:
            raise PostgresError("this ThrowawayPostgres is already started")
        bindir = self._bindir
        if bindir is None:
            bindir, reason = _locate()
            if bindir is None:
                raise PostgresUnavailable(reason)
        else:
            problem = _check_bindir(bindir)
            if problem:
                raise PostgresUnavailable(problem)
        self._bindir = bindir

        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            prefix, reason = _privilege_drop(SERVER_USER)
            if prefix is None:
                raise PostgresUnavailable(reason)
            self._prefix = prefix
            owner = pwd.getpwnam(SERVER_USER)
            self._user = SERVER_USER
        else:
            self._prefix = []
            self._user = pwd.getpwuid(os.geteuid()).pw_name

        base = self._base_dir or Path(tempfile.gettempdir())
        if owner is not None and not _world_traversable(base):
            base = Path("/tmp")  # the server user must be able to reach the cluster directory
        self._root = Path(tempfile.mkdtemp(prefix="deskbridge-pg-", dir=base))
        atexit.register(self._atexit_stop)
        try:
            self.socket_dir.mkdir(mode=0o700)
            if owner is not None:
                for path in (self._root, self.socket_dir):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            self._initdb()
            self._start_server()
            self._start_watchdog()
            self.create_database(self.dbname)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Immediate shutdown and removal of the cluster directory.  Safe to call more than once."""
        atexit.unregister(self._atexit_stop)
        root, pid = self._root, self._pid
        try:
            if root is not None and (root / "data" / "postmaster.pid").exists():
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    self._run(
                        [
                            self._bin("pg_ctl"),
                            "stop",
                            "-D",
                            str(root / "data"),
                            "-m",
                            "immediate",
                            "-w",
                            "-t",
                            str(_START_TIMEOUT),
                        ],
                        check=False,
                    )
            if pid is not None:
                _kill_and_wait(pid)  # no-op when pg_ctl already did its job
        finally:
            self._disarm_watchdog()
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
            self._root = None
            self._pid = None
            self._port = None

    def _atexit_stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    # -- properties --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._pid is not None and _pid_alive(self._pid)

    @property
    def root(self) -> Path:
        """The temporary directory holding everything (removed by :meth:`stop`)."""
        if self._root is None:
            raise PostgresError("not started")
        return self._root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresError("not started")
        return self._port

    @property
    def pid(self) -> int:
        """The postmaster's process id."""
        if self._pid is None:
            raise PostgresError("not started")
        return self._pid

    @property
    def user(self) -> str:
        """Database superuser (``postgres`` when tests run as root, else the current user)."""
        if self._user is None:
            raise PostgresError("not started")
        return self._user

    @property
    def url(self) -> str:
        """SQLAlchemy URL of :attr:`dbname`: ``postgresql+asyncpg://USER@127.0.0.1:PORT/DBNAME``."""
        return self.url_for(self.dbname)

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy (asyncpg) URL of another database on this server."""
        return f"postgresql+asyncpg://{quote(self.user, safe='')}@{self.host}:{self.port}/{dbname}"

    # -- databases ---------------------------------------------------------------------------

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """``CREATE DATABASE name [TEMPLATE template]``; returns the new database's URL.

        Synchronous (runs ``psql``), so it is usable from session fixtures even while an event loop
        runs in this thread.
        """
        _check_identifier(name)
        sql = f'CREATE DATABASE "{name}"'
        if template is not None:
            _check_identifier(template)
            sql += f' TEMPLATE "{template}"'
        self.execute(sql)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS name WITH (FORCE)``."""
        _check_identifier(name)
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str, *, dbname: str = "postgres") -> str:
        """Run one SQL command through ``psql`` as the superuser; returns psql's unaligned output."""
        cmd = [
            self._bin("psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            dbname,
            "-c",
            sql,
        ]
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresError(f"psql failed ({result.returncode}) for {sql!r}: {result.stderr.strip()}")
        return result.stdout

    # -- internals ---------------------------------------------------------------------------

    def _bin(self, program: str) -> str:
        assert self._bindir is not None
        return str(self._bindir / program)

    def _run(
        self, cmd: list[str], *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a server program as the server user, in the cluster directory."""
        result = subprocess.run(
            [*self._prefix, *cmd],
            capture_output=True,
            text=True,
            cwd=self.root,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise PostgresError(f"{' '.join(cmd)} failed ({result.returncode}):\n{output}")
        return result

    def _initdb(self) -> None:
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        lines = [f"{key} = {value}" for key, value in self._settings.items()]
        lines.append(f"unix_socket_directories = '{self.socket_dir}'")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# deskbridge throwaway test cluster\n" + "\n".join(lines) + "\n")

    def _start_server(self) -> None:
        log_offset = 0
        for _attempt in range(_PORT_ATTEMPTS):
            port = _free_port()
            result = self._run(
                [
                    self._bin("pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(_START_TIMEOUT),
                    "-o",
                    f"-p {port}",
                ],
                check=False,
                timeout=_START_TIMEOUT + 30,
            )
            log = self._read_log(log_offset)
            if result.returncode == 0:
                self._port = port
                self._pid = self._read_pid()
                return
            # A stray postmaster may still be on its way up or down; make sure it is gone.
            with contextlib.suppress(PostgresError):
                _kill_and_wait(self._read_pid())
            if "Address already in use" in log:
                log_offset += len(log)
                continue  # lost the race for the port: try another one
            output = (result.stdout + result.stderr).strip()
            raise PostgresError(
                f"pg_ctl start failed ({result.returncode}):\n{output}\n--- server log ---\n{log}"
            )
        raise PostgresError(f"could not find a free port in {_PORT_ATTEMPTS} attempts")

    def _read_log(self, offset: int) -> str:
        try:
            return self.log_path.read_text(errors="replace")[offset:]
        except OSError:
            return ""

    def _read_pid(self) -> int:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError) as exc:
            raise PostgresError(f"cannot read the postmaster pid: {exc}") from exc

    def _start_watchdog(self) -> None:
        self._watchdog = subprocess.Popen(
            [sys.executable, "-I", "-c", _WATCHDOG, str(self.pid), str(self.root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # survives a Ctrl-C aimed at the test run's process group
            cwd="/",
        )

    def _disarm_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert watchdog.stdin is not None
            watchdog.stdin.write(b"disarm\n")
            watchdog.stdin.close()
        try:
            watchdog.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port is not None else "stopped"
        return f"<ThrowawayPostgres {self.dbname} {where}>"


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")

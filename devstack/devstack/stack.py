"""The infrastructure of one profile: which process serves which component, how each is
started, checked, stopped and reported."""

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from devstack import oidc, probes
from devstack.errors import StackError
from devstack.paths import ProcessPaths, process_paths
from devstack.pidfile import is_alive, running_pid
from devstack.postgres_cluster import ensure_binaries, init_cluster, run_as_user, server_command
from devstack.process import spawn, stop_by_pidfile
from devstack.profiles import Profile
from devstack.progress import Progress
from devstack.status_table import StatusRow
from devstack.system_packages import apt_install
from devstack.waiting import answers, wait_ready

COMPONENTS = ("postgres", "redis", "kafka", "elasticsearch", "mongodb", "oidc", "smtp")
# Kafka and Elasticsearch are two listeners of one noida-db process.
PROCESS_OF = {
    "postgres": "postgres",
    "redis": "redis",
    "kafka": "noida-db",
    "elasticsearch": "noida-db",
    "mongodb": "mongodb",
    "oidc": "oidc",
    "smtp": "smtp",
}
PROCESSES = ("postgres", "redis", "noida-db", "mongodb", "oidc", "smtp")
# SIGTERM lets noida-db flush its data; SIGINT is PostgreSQL's "fast" shutdown (SIGTERM
# would wait for every client to disconnect).
STOP_SIGNAL = {"postgres": signal.SIGINT}
# noida-db keeps everything in memory and writes a whole-state snapshot (<service>.json, by a
# temporary file and a rename, no fsync) about once a second when something changed, and once
# more at SIGTERM. Anything acknowledged after the last snapshot is lost if the process dies
# without that last one, so its stop is never hurried: listeners first, then the signal,
# a long grace, and only then SIGKILL (devstack/README.md, "Durability of the stand-ins").
NOIDA_SNAPSHOT_PERIOD_SECONDS = 1.0
NOIDA_STOP_GRACE_SECONDS = 60.0
NOIDA_CONTROL_TIMEOUT_SECONDS = 30.0
DEFAULT_TIMEOUT_SECONDS = 60.0


class UnknownComponent(ValueError):
    pass


def check_components(components: Iterable[str]) -> set[str]:
    wanted = set(components)
    unknown = wanted - set(COMPONENTS)
    if unknown:
        raise UnknownComponent(
            f"unknown component(s) {sorted(unknown)}; choose from {', '.join(COMPONENTS)}"
        )
    return wanted


def venv_program(name: str) -> str:
    """A console script installed next to the running interpreter (the workspace venv)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found next to {sys.executable} or on PATH")
    return found


def noida_binary() -> str:
    # The console script is a Python wrapper that forks the real binary; running the
    # binary itself makes the PID file name the server, so SIGTERM reaches it directly.
    try:
        from importlib.resources import files

        binary = Path(str(files("noida_db").joinpath("noida-db")))
        if binary.is_file():
            binary.chmod(binary.stat().st_mode | 0o111)
            return str(binary)
    except (ImportError, OSError):
        pass
    return venv_program("noida-db")


def sync_folder(folder: Path) -> None:
    """fsync every file directly in `folder`, then the folder itself (renames are durable)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_file():
            with contextlib.suppress(OSError):
                descriptor = os.open(entry, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def noida_listeners(pid: int) -> set[str]:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return set()
    if "--only" in argv and argv.index("--only") + 1 < len(argv):
        return set(argv[argv.index("--only") + 1].split(","))
    return {"kafka", "elasticsearch"}


class Stack:
    def __init__(
        self,
        profile: Profile,
        root: Path,
        progress: Progress | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.profile = profile
        self.root = root
        self.progress = progress or Progress()
        self.timeout = timeout

    def paths(self, process: str) -> ProcessPaths:
        return process_paths(self.root, self.profile.name, process)

    def mail_folder(self) -> Path:
        """Where the SMTP sink stores each message it accepted (one .eml file each)."""
        return self.paths("smtp").data

    def address(self, component: str) -> str:
        p = self.profile
        return {
            "postgres": f"{p.host}:{p.postgres_port}",
            "redis": f"{p.host}:{p.redis_port}",
            "kafka": p.kafka_bootstrap,
            "elasticsearch": p.elasticsearch_url,
            "mongodb": p.mongodb_url,
            "smtp": f"{p.host}:{p.smtp_port}",
            "oidc": p.oidc_issuer,
        }[component]

    def probe(self, component: str) -> probes.Probe:
        p = self.profile
        match component:
            case "postgres":
                return lambda: probes.postgres(
                    p.host, p.postgres_port, p.postgres_user, p.postgres_password
                )
            case "redis":
                return lambda: probes.redis(p.host, p.redis_port)
            case "kafka":
                return lambda: probes.kafka(p.kafka_bootstrap)
            case "elasticsearch":
                return lambda: probes.elasticsearch(p.elasticsearch_url)
            case "mongodb":
                return lambda: probes.mongodb(p.mongodb_url)
            case "smtp":
                return lambda: probes.smtp(p.host, p.smtp_port)
            case "oidc":
                return lambda: probes.oidc(p.oidc_issuer)
        raise UnknownComponent(component)

    def answers(self, component: str) -> bool:
        if not probes.port_open(self.profile.host, self.profile.port_of(component)):
            return False
        return answers(self.probe(component))

    def pid(self, process: str) -> int | None:
        return running_pid(self.paths(process).pid)

    def component_pid(self, component: str) -> int | None:
        """PID of our process serving `component`; None when a reused server serves it."""
        pid = self.pid(PROCESS_OF[component])
        if pid is None or PROCESS_OF[component] != "noida-db":
            return pid
        # Our noida-db may run only the listener another server did not already answer.
        return pid if component in noida_listeners(pid) else None

    # ---- start -----------------------------------------------------------------------

    def ensure(self, components: Iterable[str], started: list[str] | None = None) -> list[str]:
        """Starts the processes serving `components` that do not answer yet; returns the
        processes it started. A server already answering is reused, never restarted.
        `started` is appended to as each process starts, so a caller can still stop them
        when a later one fails."""
        wanted = check_components(components)
        started = [] if started is None else started
        for process in PROCESSES:
            served = {c for c, proc in PROCESS_OF.items() if proc == process}
            needed = sorted(wanted & served)
            if not needed:
                continue
            if all(self.answers(component) for component in needed):
                for component in needed:
                    self.progress.event(
                        f"{component} already answering on {self.address(component)}; reusing it"
                    )
                continue
            # Recorded before waiting: a process that never answers must still be stopped.
            started.append(process)
            self.start_process(process)
        return started

    def start_process(self, process: str) -> int:
        served = [c for c, proc in PROCESS_OF.items() if proc == process]
        paths = self.paths(process).create()
        pid = running_pid(paths.pid)
        if pid is None:
            # A listener another server already answers on is left to it (noida-db then runs
            # only the other one); a port held by anything else is an error.
            listeners = [c for c in served if not self.answers(c)]
            for component in listeners:
                if probes.port_open(self.profile.host, self.profile.port_of(component)):
                    raise StackError(
                        component,
                        f"port {self.profile.port_of(component)} is taken by a process that "
                        f"does not answer as {component}; free it or pick another port",
                    )
            command, user = self._command(process, paths, listeners)
            self.progress.event(f"{process} starting: {shlex.join(command)}")
            pid = spawn(
                command, log_path=paths.log, pid_path=paths.pid, cwd=paths.data, user=user
            ).pid
        else:
            # Ours from an earlier run, not answering yet (still starting up).
            listeners = [c for c in served if not self.answers(c)]
        started_pid = pid
        for component in listeners:
            wait_ready(
                component,
                self.address(component),
                self.probe(component),
                timeout=self.timeout,
                progress=self.progress,
                alive=lambda: is_alive(started_pid),
                log_path=paths.log,
            )
        return pid

    def _command(
        self, process: str, paths: ProcessPaths, listeners: list[str]
    ) -> tuple[list[str], str | None]:
        p = self.profile
        match process:
            case "postgres":
                bindir = ensure_binaries(self.progress)
                init_cluster(bindir, paths, p, self.progress)
                return server_command(bindir, paths, p), run_as_user()
            case "redis":
                server = shutil.which("redis-server")
                if server is None:
                    apt_install("redis", "redis-server", self.progress)
                    server = shutil.which("redis-server") or "redis-server"
                return [
                    server,
                    "--port",
                    str(p.redis_port),
                    "--bind",
                    p.host,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(paths.data),
                ], None
            case "noida-db":
                # noida-db rejects a port flag for a listener --only leaves out.
                ports = [arg for c in listeners for arg in (f"--{c}-port", str(p.port_of(c)))]
                return [
                    noida_binary(),
                    "start",
                    "--data-dir",
                    str(paths.data),
                    "--host",
                    p.host,
                    "--only",
                    ",".join(listeners),
                    *ports,
                ], None
            case "mongodb":
                # nx-27017 defaults to one global /tmp pid file and refuses a second instance;
                # its own files per profile let dev, test and bench run side by side.
                return [
                    venv_program("nx-27017"),
                    "--data-dir",
                    str(paths.data),
                    "--host",
                    p.host,
                    "-p",
                    str(p.mongodb_port),
                    "--pid-file",
                    str(paths.base / "nx.pid"),
                    "--log-file",
                    str(paths.base / "nx.log"),
                ], None
            case "smtp":
                return [
                    sys.executable,
                    "-m",
                    "devstack.smtp_sink",
                    "--host",
                    p.host,
                    "--port",
                    str(p.smtp_port),
                    "--dir",
                    str(paths.data),
                ], None
            case "oidc":
                return oidc.command(p, paths, self.progress), None
        raise UnknownComponent(process)

    # ---- stop ------------------------------------------------------------------------

    def stop_process(self, process: str) -> int | None:
        """Stops the process if this profile started it (PID file); returns its PID."""
        if process == "noida-db":
            return self._stop_noida()
        pid = stop_by_pidfile(
            self.paths(process).pid, first_signal=STOP_SIGNAL.get(process, signal.SIGTERM)
        )
        if pid is not None:
            self.progress.event(f"{process} stopped (pid {pid})")
        return pid

    def _stop_noida(self) -> int | None:
        """Graceful stop that loses nothing acknowledged:

        1. `noida-db stop <listeners>` over its control channel: the Kafka and Elasticsearch
           listeners close (no client can write any more) and each service's data is saved;
        2. wait one snapshot period, so a periodic snapshot that was being written when the
           listeners closed has finished (two snapshot writers share one temporary file);
        3. SIGTERM (its own final snapshot), up to 60 s of grace before SIGKILL;
        4. fsync the snapshot files and the folder, so a machine crash right after a stop
           cannot take the last snapshot with it (noida-db itself never fsyncs).
        """
        paths = self.paths("noida-db")
        pid = running_pid(paths.pid)
        if pid is None:
            return None
        listeners = sorted(noida_listeners(pid))
        command = [noida_binary(), "stop", *listeners, "--data-dir", str(paths.data)]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=NOIDA_CONTROL_TIMEOUT_SECONDS,
                check=False,
            )
            if done.returncode != 0:
                self.progress.event(
                    f"noida-db: `stop {' '.join(listeners)}` answered "
                    f"{done.returncode}: {(done.stderr or done.stdout)[-300:]}"
                )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.progress.event(
                f"noida-db: graceful stop of {listeners} failed ({exc}); "
                "relying on SIGTERM's snapshot"
            )
        time.sleep(NOIDA_SNAPSHOT_PERIOD_SECONDS + 0.5)
        gone = stop_by_pidfile(
            paths.pid, first_signal=signal.SIGTERM, grace=NOIDA_STOP_GRACE_SECONDS
        )
        sync_folder(paths.data)
        if gone is not None:
            self.progress.event(f"noida-db stopped (pid {gone})")
        return gone

    def stop_all(self) -> list[str]:
        return [proc for proc in reversed(PROCESSES) if self.stop_process(proc) is not None]

    # ---- status ----------------------------------------------------------------------

    def status(self) -> list[StatusRow]:
        """UP: ours and answering; REUSED: answering, not ours; UNRESPONSIVE: ours, silent."""
        rows = []
        for component in COMPONENTS:
            pid = self.component_pid(component)
            up = self.answers(component)
            if pid is not None:
                state = "UP" if up else "UNRESPONSIVE"
            else:
                state = "REUSED" if up else "DOWN"
            rows.append(
                StatusRow(
                    component, state, pid, self.profile.port_of(component), self.address(component)
                )
            )
        return rows

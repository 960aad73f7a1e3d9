"""The drill's moving parts: gateway replicas as processes, and HAProxy in front of them.

Each replica is `garrison serve` in its own process group with its own home
directory; what replicas share is what the chart shares (PostgreSQL, Redis, the
object store, and the same key files, copied into each replica's "mounted Secret").
HAProxy (the Debian package) balances over them and health-checks
``/v2/health/ready``, so a replica that is loading or draining gets no traffic.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["HAProxy", "Replica", "free_port", "mount_keys"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mount_keys(source: Path, target: Path) -> Path:
    """Copy a key folder as a Secret volume presents it: a read-only folder of 0400 files
    (subfolders are other Secrets, mounted elsewhere)."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            shutil.copyfile(path, target / path.name)
            os.chmod(target / path.name, 0o400)
    os.chmod(target, 0o500)
    return target


@dataclass
class Replica:
    """One gateway replica: `garrison serve --workers 1` on its own port and home."""

    name: str
    root: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / f"serve-{self.starts}.log"

    def start(self, *, nice: int = 0) -> None:
        """Start the process (a fresh home each time, as a new pod would get).

        ``nice`` lowers its CPU priority while it starts: on Kubernetes a new pod brings
        its own CPU (requests), here it shares two cores with the replicas serving.
        """
        self.starts += 1
        home = self.root / f"home-{self.starts}"
        home.mkdir(parents=True, mode=0o700)
        env = {**self.env, "GARRISON_HOME": str(home)}
        command = [sys.executable, "-m", "garrison", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", "1"]
        niceness = shutil.which("nice")
        if nice and niceness:  # nice execs the server: the pid stays the server's.
            command = [niceness, "-n", str(nice), *command]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 120) -> None:
        """Until the replica answers ready; then it gets its normal CPU priority back."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    with contextlib.suppress(OSError):  # Raising priority needs root.
                        os.setpriority(os.PRIO_PROCESS, self.proc.pid, 0)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"replica {self.name} did not become ready:\n"
                           f"{self.log.read_text()[-3000:]}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Best effort at the end of a drill: SIGTERM, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(10)


_CONFIG = """\
global
    maxconn 2000
    stats socket {socket} mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    # A connection that fails before the request is sent (a replica just killed, or
    # not yet marked down) is retried on another replica. A request already sent is
    # never replayed: scoring is not idempotent (it counts against limits and quotas).
    retries 3
    retry-on conn-failure
    option redispatch
    # One server connection per request: no idle keep-alive connection that a
    # replica could close just as HAProxy reuses it.
    option http-server-close

frontend gateway
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /v2/health/ready
    http-check expect status 200
    default-server inter 300ms fastinter 200ms downinter 300ms fall 2 rise 2
    http-response set-header X-Garrison-Replica %[srv_name]
{servers}
"""


@dataclass
class HAProxy:
    """HAProxy from the Debian packages, in the foreground, with an admin socket."""

    root: Path
    replicas: list[Replica]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        return self.root / "haproxy.sock"

    def start(self) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port} check"
                            for r in self.replicas)
        config = self.root / "haproxy.cfg"
        config.write_text(_CONFIG.format(socket=self.socket_path, port=self.port,
                                         servers=servers))
        check = subprocess.run([binary, "-c", "-f", str(config)],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration:\n{check.stderr}")
        log = (self.root / "haproxy.log").open("wb")
        self.proc = subprocess.Popen([binary, "-db", "-f", str(config)],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.socket_path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start")
            time.sleep(0.05)

    def states(self) -> dict[str, str]:
        """Each replica's state as HAProxy sees it (UP, DOWN, ...)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {row["svname"]: row["status"].split()[0] for row in rows
                if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND",
                                                                         "BACKEND")}

    def wait_states(self, wanted: dict[str, str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = self.states()
            if all(states.get(name) == state for name, state in wanted.items()):
                return
            time.sleep(0.1)
        raise RuntimeError(f"haproxy states {states}, wanted {wanted}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

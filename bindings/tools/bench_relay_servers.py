"""The three servers of `make bench-relay`, each started fresh in a temporary directory on
a free port of 127.0.0.1 and stopped afterwards (bench_relay.py runs the load against them).

    with start("relay-full", imrctl, members=["pub0", "sub0"]) as server:
        server.port, server.pid
"""

import contextlib
import getpass
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# The relay with no send or request budget (the load is the point), SQLite in the given mode.
RELAY_DURABILITY = {"relay-full": "full", "relay-normal": "normal"}


class Server:
    def __init__(self, name, process, port, workdir):
        self.name, self.process, self.port, self.workdir = name, process, port, workdir

    @property
    def pid(self):
        return self.process.pid

    def log_tail(self, lines=20):
        path = self.workdir / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _raise_fd_limit():
    # Thousands of idle connections: the soft descriptor limit up to the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port, process, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def program(name):
    # Debian installs both servers in /usr/sbin, which a user's PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin") or name


def _start_relay(imrctl, durability, members, workdir, log):
    cmd = [imrctl, "relay", "--listen", "127.0.0.1:0", "--insecure-user-tokens",
           "--db", str(workdir / "relay.sqlite"), "--rate", "0", "--request-rate", "0",
           "--durability", durability, "--log-level", "warning"]
    if members:
        cmd += ["--conversation", "bench:" + ",".join(members)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=_raise_fd_limit)
    line = process.stdout.readline()  # "imr relay listening on HOST:PORT", or nothing if it failed
    if "listening on" not in line:
        process.wait(timeout=10)
        raise RuntimeError(f"the relay did not start (status {process.returncode})")
    return process, int(line.rsplit(":", 1)[1])


def _start_nats(workdir, log):
    port = _free_port()
    process = subprocess.Popen([program("nats-server"), "-js", "-sd", str(workdir), "-p", str(port),
                                "-a", "127.0.0.1"], stdout=log, stderr=log, preexec_fn=_raise_fd_limit)
    _wait_for_port(port, process)
    return process, port


def _start_mosquitto(workdir, log):
    port = _free_port()
    config = workdir / "mosquitto.conf"
    lines = ["persistence true", f"persistence_location {workdir}/", f"listener {port} 127.0.0.1",
             "allow_anonymous true",
             # QoS 1 promises every subscriber every message, but by default the broker drops
             # what is queued for a subscriber past 1,000 messages; unbounded, nothing is lost.
             "max_queued_messages 0"]
    if os.geteuid() == 0:
        lines.append(f"user {getpass.getuser()}")  # as root it would switch to a user that cannot write here
    config.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen([program("mosquitto"), "-c", str(config)], stdout=log, stderr=log,
                               preexec_fn=_raise_fd_limit)
    _wait_for_port(port, process)
    return process, port


def _stop(process):
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def start(name, imrctl, members=()):
    """name: relay-full, relay-normal, nats or mosquitto."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-relay-{name}-"))
    process = None
    try:
        with open(workdir / "server.log", "w") as log:
            if name in RELAY_DURABILITY:
                process, port = _start_relay(imrctl, RELAY_DURABILITY[name], list(members), workdir, log)
            elif name == "nats":
                process, port = _start_nats(workdir, log)
            elif name == "mosquitto":
                process, port = _start_mosquitto(workdir, log)
            else:
                raise ValueError(name)
            yield Server(name, process, port, workdir)
    finally:
        if process is not None:
            _stop(process)
            if process.stdout:
                process.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)

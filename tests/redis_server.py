"""A real ``redis-server`` for the tests, on a free loopback port, without persistence.

Started from the Debian package's binary (scripts/test installs it). ``start`` returns once
the server logs that it accepts connections, so no test waits by sleeping; ``stop`` and
``start`` again give the fault tests a Redis that goes away and comes back on the same port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

from trouper.cluster._launcher import die_with_parent


def free_port() -> int:
    """A TCP port nobody listens on now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process on 127.0.0.1:``port``."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/test (apt-get)")
        self.binary = binary
        self.port = free_port() if port is None else port
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait (bounded) until it accepts connections."""
        assert self.process is None, "already running"
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--loglevel", "notice"]
        process = subprocess.Popen(  # gone with the test run, even if it is killed
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        for line in process.stdout:  # ends when the server exits (e.g. the port is taken)
            if "Ready to accept connections" in line:
                self.process = process
                # Keep reading its log, or a full pipe would block the server.
                threading.Thread(target=process.stdout.read, daemon=True).start()
                return
            if time.monotonic() > deadline:
                break
        process.kill()
        process.wait()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Kill the server (as a crash would: no goodbye to the clients) and reap it."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)


def start_redis() -> RedisServer:
    """A started server; retries with another port if the chosen one was taken meanwhile."""
    for _ in range(5):
        server = RedisServer()
        try:
            server.start()
        except RuntimeError:
            continue
        return server
    raise RuntimeError("could not start redis-server")

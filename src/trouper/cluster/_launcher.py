"""Run N nodes of one application as one command, all accepting on one port.

How this works
--------------
``run_nodes("myapp.main:node", nodes=2, port=4000)`` (or ``python -m trouper.cluster
myapp.main:node --nodes 2 --port 4000``):

1. Redis: the given URL, or a private ``redis-server`` (no persistence) on a free loopback
   port, started here and stopped last. Without a URL and without ``redis-server`` on PATH
   it stops with a clear :class:`LaunchError`.
2. The port is reserved: the launcher binds it with SO_REUSEPORT (port 0 picks one) and
   holds it, so the nodes, which bind it the same way, share it with nobody else. The
   kernel spreads incoming connections over the nodes that listen.
3. N node processes start (``python -m trouper.cluster --node ENTRY``), each in its own
   session, so a terminal's Ctrl-C reaches only the launcher. Each gets a
   :class:`NodeConfig` through its environment; the entry point ``ENTRY(config)`` returns
   what ``trouper.run`` runs (an Application, or an async function). A node calls
   ``config.ready()`` once it serves; when every node has, the launcher says so.
4. SIGINT or SIGTERM: the nodes are stopped one at a time, last started first, each with
   SIGTERM (an Application stops its tree in order and exits 0), then SIGKILL after
   ``stop_timeout``. A node that dies on its own is reported; the others keep running.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import attrs

_ENV = "TROUPER_NODE"


class LaunchError(RuntimeError):
    """The cluster cannot start (no Redis, the port is taken...)."""


@attrs.frozen
class NodeConfig:
    """What one node of a launched cluster is told (``entry(config)``).

    Attributes:
        name: the node's name in the cluster (``node1``, ``node2``...): pass it as the
            adapter's ``node_name``.
        index: 0 for the first node.
        nodes: how many nodes the launcher started.
        host, port: where to listen (every node the same).
        redis_url: the cluster bus.
        reuse_port: bind with SO_REUSEPORT (``start_endpoint(..., reuse_port=True)``).
    """

    name: str
    index: int
    nodes: int
    host: str
    port: int
    redis_url: str
    reuse_port: bool = True
    ready_fd: int | None = None

    def to_environ(self) -> dict[str, str]:
        fields = attrs.asdict(self)
        return {f"{_ENV}_{key.upper()}": str(value) for key, value in fields.items()}

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> NodeConfig:
        env = os.environ if environ is None else environ
        try:
            fd = env[f"{_ENV}_READY_FD"]
            return cls(
                name=env[f"{_ENV}_NAME"],
                index=int(env[f"{_ENV}_INDEX"]),
                nodes=int(env[f"{_ENV}_NODES"]),
                host=env[f"{_ENV}_HOST"],
                port=int(env[f"{_ENV}_PORT"]),
                redis_url=env[f"{_ENV}_REDIS_URL"],
                reuse_port=env[f"{_ENV}_REUSE_PORT"] == "True",
                ready_fd=None if fd == "None" else int(fd),
            )
        except KeyError as exc:
            raise LaunchError(f"not started as a cluster node: {exc} is not set") from exc

    def ready(self) -> None:
        """Tell the launcher this node serves (once; harmless without a launcher)."""
        if self.ready_fd is not None:
            try:
                os.write(self.ready_fd, f"{self.name}\n".encode())
                os.close(self.ready_fd)
            except OSError:
                pass
            object.__setattr__(self, "ready_fd", None)


def resolve_entry(entry: str) -> Callable[[NodeConfig], Any]:
    """``"package.module:function"`` -> the function."""
    module_name, sep, attribute = entry.partition(":")
    if not sep or not module_name or not attribute:
        raise LaunchError(f"an entry point is 'module:function', not {entry!r}")
    import importlib

    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise LaunchError(f"{entry!r} is not callable")
    return target  # type: ignore[no-any-return]


def run_node(entry: str) -> int:
    """The body of one node process: build the entry's main from the environment, run it."""
    import trouper

    config = NodeConfig.from_environ()
    trouper.run(resolve_entry(entry)(config))
    return 0


# -- the launcher ---------------------------------------------------------------------------


def _say(out: IO[str], text: str) -> None:
    print(f"trouper cluster: {text}", file=out, flush=True)


def _reserve(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise LaunchError(f"cannot use {host}:{port}: {exc}") from exc
    return sock


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM when its parent dies, even by SIGKILL (a node when the
    launcher dies, a private redis-server when whoever started it dies)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def start_private_redis(timeout: float = 10.0) -> tuple[subprocess.Popen[bytes], str]:
    """A ``redis-server`` on a free loopback port, without persistence; returns it and
    its URL once it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise LaunchError(
            "no --redis URL was given and redis-server is not on PATH: install it "
            "(Debian: apt-get install redis-server) or pass --redis redis://host:port"
        )
    port = _free_loopback_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent
    )
    deadline = time.monotonic() + timeout
    while not _redis_answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise LaunchError(f"redis-server did not start on port {port}")
        time.sleep(0.02)
    return process, f"redis://127.0.0.1:{port}"


def _stop(process: subprocess.Popen[Any], timeout: float) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


def run_nodes(
    entry: str,
    *,
    nodes: int,
    host: str = "127.0.0.1",
    port: int = 4000,
    redis_url: str | None = None,
    stop_timeout: float = 10.0,
    python: str = sys.executable,
    out: IO[str] = sys.stderr,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``nodes`` node processes of ``entry`` on one port until SIGINT/SIGTERM.

    Returns 0 when stopped by a signal and every node exited cleanly, else 1. ``env``:
    variables added to every node's environment (how an application passes its own
    options to its entry point; the :class:`NodeConfig` comes on top).

    Raises:
        LaunchError: no Redis could be had, or the port cannot be used.
    """
    if nodes < 1:
        raise LaunchError(f"need at least one node, not {nodes}")
    stopping: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    redis: subprocess.Popen[bytes] | None = None
    reserved = _reserve(host, port)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    ready_r, ready_w = os.pipe()
    try:
        if redis_url is None:
            redis, redis_url = start_private_redis()
            _say(out, f"started redis-server at {redis_url}")
        port = reserved.getsockname()[1]
        for index in range(nodes):
            config = NodeConfig(
                f"node{index + 1}", index, nodes, host, port, redis_url, True, ready_w
            )
            children.append((config.name, _spawn(python, entry, config, env or {})))
        os.close(ready_w)
        status = _supervise(children, ready_r, stopping, out, f"{host}:{port}", redis_url)
        for name, process in reversed(children):
            code = _stop(process, stop_timeout)
            _say(out, f"stopped {name} (exit status {code})")
            status = status or (code != 0)
        return int(status)
    finally:
        for _, process in children:
            if process.poll() is None:
                process.kill()
                process.wait()
        if redis is not None:
            _stop(redis, stop_timeout)
            _say(out, "stopped redis-server")
        reserved.close()
        os.close(ready_r)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spawn(
    python: str, entry: str, config: NodeConfig, extra: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    assert config.ready_fd is not None
    env = {**os.environ, **extra, **config.to_environ()}
    return subprocess.Popen(
        [python, "-m", "trouper.cluster", "--node", entry],
        env=env,
        pass_fds=(config.ready_fd,),
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def _supervise(
    children: Sequence[tuple[str, subprocess.Popen[bytes]]],
    ready_r: int,
    stopping: list[int],
    out: IO[str],
    address: str,
    redis_url: str,
) -> bool:
    """Wait for a stop signal, reporting readiness and nodes that die. Returns whether a
    node failed meanwhile."""
    ready: set[str] = set()
    exited: set[str] = set()
    failed = False
    buffer = b""
    pipe_open = True
    while not stopping:
        if pipe_open:
            readable, _, _ = select.select([ready_r], [], [], 0.1)
            if readable:
                data = os.read(ready_r, 4096)
                pipe_open = bool(data)
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                ready.update(line.decode() for line in lines if line)
                if len(ready) == len(children) and lines:
                    _say(out, f"{len(children)} nodes ready on {address} (redis {redis_url})")
        else:
            time.sleep(0.1)
        for name, process in children:
            if name not in exited and process.poll() is not None:
                exited.add(name)
                failed = True
                _say(out, f"{name} exited with status {process.returncode}; the others go on")
        if len(exited) == len(children):
            break
    return failed

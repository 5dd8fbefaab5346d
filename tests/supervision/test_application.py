"""Applications: the top supervisor under the application's name, and ``trouper.run(app)``.

``trouper.run(app)`` owns the OS process (signals, exit status), so it is tested the way a
user meets it: a small program written to a temporary file and run with this interpreter
(the project's venv) in a subprocess. The tests wait on the program's output, never on the
clock, and every subprocess test is bounded by ``trio.fail_after``: a program that hangs
fails its test. The ``python -m trouper demo`` command is checked the same way.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

import trouper
from trouper.supervision import Application, ChildCounts, ChildSpec, count_children, which_children

# Real seconds. A run takes about one second; the bound only turns a hang into a failure on
# a loaded machine, it is not how long a test waits.
LIMIT = 30

# ---------------------------------------------------------------------------------------------
# Programs

NOISY_APP = """
    import trouper
    from trouper.supervision import Application, ChildSpec


    class Noisy(trouper.GenServer):
        def init(self, name):
            trouper.trap_exit(True)  # a shutdown from the supervisor then runs terminate
            self.name = name
            print(f"started {name}", flush=True)

        def terminate(self, reason):
            print(f"terminate {self.name} {reason}", flush=True)


    app = Application(
        "noisy",
        children=[ChildSpec(id=name, start=Noisy, args=(name,)) for name in ("a", "b", "c")],
    )

    if __name__ == "__main__":
        trouper.run(app)
"""

DOOMED_APP = """
    import trouper
    from trouper.supervision import Application, ChildSpec, SupervisorFlags


    async def crash_at_once():
        raise RuntimeError("crashed at once")


    app = Application(
        "doomed",
        children=[ChildSpec(id="crasher", start=trouper.spawn_link, args=(crash_at_once,))],
        flags=SupervisorFlags(intensity=0),
    )

    if __name__ == "__main__":
        trouper.run(app)
"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Program:
    """A program running in a subprocess; its stdout and stderr are collected as they come."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._out = bytearray()
        self._err = bytearray()
        self._changed = trio.Event()
        self._open = 2  # output streams not at EOF yet
        self._closed = trio.Event()

    @property
    def stdout(self) -> str:
        return ANSI.sub("", self._out.decode(errors="replace"))

    @property
    def stderr(self) -> str:
        return ANSI.sub("", self._err.decode(errors="replace"))

    async def pump(self, stream: trio.abc.ReceiveStream, into: bytearray) -> None:
        async for chunk in stream:
            into += chunk
            self._changed.set()
            self._changed = trio.Event()
        self._open -= 1
        if not self._open:
            self._closed.set()
        self._changed.set()

    async def wait_for(self, text: str) -> None:
        """Wait until ``text`` appears on stdout; fail if the program ends without it."""
        while text not in self.stdout:
            if self._closed.is_set():
                raise AssertionError(
                    f"the program ended without printing {text!r}\n"
                    f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
                )
            await self._changed.wait()

    async def finish(self) -> int:
        """Wait for the program to exit and for all of its output; return its exit status."""
        status = await self.process.wait()
        await self._closed.wait()
        return status

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(prefix)]


@asynccontextmanager
async def running(args: Sequence[str], cwd: Path) -> AsyncIterator[Program]:
    """Run ``python *args``; the program is killed if the block ends while it still runs."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await trio.lowlevel.open_process(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
    )
    program = Program(process)
    assert process.stdout is not None and process.stderr is not None
    async with process.stdout, process.stderr, trio.open_nursery() as nursery:
        nursery.start_soon(program.pump, process.stdout, program._out)
        nursery.start_soon(program.pump, process.stderr, program._err)
        try:
            yield program
        finally:
            if process.returncode is None:
                process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


def write_program(directory: Path, source: str) -> Path:
    path = directory / "app.py"
    path.write_text(textwrap.dedent(source))
    return path


def stopped_line(program: Program) -> str:
    lines = [line for line in program.stdout.splitlines() if "application_stopped" in line]
    assert len(lines) == 1, program.stdout
    return lines[0]


# ---------------------------------------------------------------------------------------------
# Inside a node


class Recorder(trouper.GenServer):
    """Appends its name to ``started`` when it starts."""

    def init(self, name: str, started: list[str]) -> None:
        started.append(name)


def recorders(started: list[str]) -> list[ChildSpec]:
    return [ChildSpec(id=name, start=Recorder, args=(name, started)) for name in ("a", "b", "c")]


async def test_application_start_registers_the_top_supervisor_under_its_name(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        app = Application("shop", children=recorders([]))

        sup = await app.start()

        assert trouper.whereis("shop") == sup
        assert await count_children("shop") == ChildCounts(
            specs=3, active=3, supervisors=0, workers=3
        )


async def test_application_start_starts_the_children_in_order(autojump_clock: Any) -> None:
    async with trouper.open_node():
        started: list[str] = []
        app = Application("shop", children=recorders(started))

        await app.start()

        assert started == ["a", "b", "c"]
        children = await which_children("shop")
        assert {child.id for child in children} == {"a", "b", "c"}
        assert all(isinstance(child.pid, trouper.Pid) for child in children)


# ---------------------------------------------------------------------------------------------
# trouper.run(app) in its own OS process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_signal_stops_the_children_in_reverse_order_and_exits_0(
    signum: signal.Signals, tmp_path: Path
) -> None:
    script = write_program(tmp_path, NOISY_APP)
    with trio.fail_after(LIMIT):
        async with running([str(script)], tmp_path) as program:
            await program.wait_for("application_started")
            assert program.lines("started ") == ["started a", "started b", "started c"]

            program.process.send_signal(signum)
            status = await program.finish()

    assert status == 0, program.stderr
    assert program.lines("terminate ") == [
        "terminate c shutdown",
        "terminate b shutdown",
        "terminate a shutdown",
    ]
    assert "noisy" in stopped_line(program)


async def test_an_application_whose_supervisor_gives_up_exits_1_and_logs_why(
    tmp_path: Path,
) -> None:
    script = write_program(tmp_path, DOOMED_APP)
    with trio.fail_after(LIMIT):
        async with running([str(script)], tmp_path) as program:
            status = await program.finish()

    assert status == 1
    line = stopped_line(program)
    assert "doomed" in line
    assert "reason=\"'shutdown'\"" in line


async def test_an_application_whose_supervisor_gives_up_exits_without_a_traceback(
    tmp_path: Path,
) -> None:
    # ApplicationExit is a SystemExit: the interpreter should exit 1 quietly, as for
    # sys.exit(1), not print the exception as an uncaught error.
    script = write_program(tmp_path, DOOMED_APP)
    with trio.fail_after(LIMIT):
        async with running([str(script)], tmp_path) as program:
            status = await program.finish()

    assert status == 1
    assert "Traceback" not in program.stderr, program.stderr


# ---------------------------------------------------------------------------------------------
# The trouper command


async def test_the_demo_command_exits_0_and_reports_its_fan_out(tmp_path: Path) -> None:
    with trio.fail_after(LIMIT * 2):  # it spawns 100,000 processes
        async with running(["-m", "trouper", "demo"], tmp_path) as program:
            status = await program.finish()

    assert status == 0, program.stderr
    assert re.search(
        r"^spawned 100,000 reactive processes in \d+\.\d+ s; "
        r"one message to each handled in \d+\.\d+ s$",
        program.stdout,
        re.MULTILINE,
    ), program.stdout

"""tree() and format_tree(): the live supervision tree as plain data and as text."""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

import pytest

import trouper
from trouper import Down, GenServer, Pid
from trouper.supervision import (
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    format_tree,
    start_child,
    tree,
    which_children,
)

WAIT = 10.0  # a message that never comes fails the test after this long instead of hanging it


class Worker(GenServer):
    """Reactive; says ``("started", tag, pid)`` to ``test`` from its ``init``."""

    def init(self, test: Pid, tag: Hashable) -> None:
        trouper.send(test, ("started", tag, trouper.self()))


async def hold_mail() -> None:
    """A task process that never takes a message: whatever is sent to it stays queued."""
    await trouper.receive(lambda m: False)


async def started(tag: Hashable) -> Pid:
    message = await trouper.receive(
        lambda m: type(m) is tuple and m[:2] == ("started", tag), timeout=WAIT
    )
    pid: Pid = message[2]
    return pid


async def two_levels(test: Pid) -> Pid:
    """top: worker "w1", supervisor "inner" (worker "w2"), task process "mail"."""
    inner = Supervisor.child_spec("inner", [ChildSpec(id="w2", start=Worker, args=(test, "w2"))])
    return await Supervisor.start_link(
        [
            ChildSpec(id="w1", start=Worker, args=(test, "w1")),
            inner,
            ChildSpec(id="mail", start=trouper.spawn_link, args=(hold_mail,), restart="temporary"),
        ],
        name="top",
    )


def by_id(node: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {child["id"]: child for child in node["children"]}


async def test_tree_describes_the_supervisor_itself() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())

        top = await tree(sup)

        assert top["pid"] == repr(sup)
        assert top["name"] == "top"
        assert top["behaviour"] == "SupervisorServer"
        assert top["mode"] == "task"
        assert top["mailbox_len"] == 0


async def test_tree_accepts_a_registered_name() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())

        assert (await tree("top"))["pid"] == repr(sup)


async def test_tree_of_an_unregistered_name_raises() -> None:
    async with trouper.open_node():
        with pytest.raises(trouper.NameNotRegisteredError):
            await tree("nobody")


async def test_tree_lists_each_child_with_id_pid_type_restart_and_restart_count() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())
        pids = {info.id: info.pid for info in await which_children(sup)}

        children = by_id(await tree(sup))

        assert set(children) == {"w1", "inner", "mail"}
        assert {
            key: (c["pid"], c["type"], c["restart"], c["restarts"]) for key, c in children.items()
        } == {
            "w1": (repr(pids["w1"]), "worker", "permanent", 0),
            "inner": (repr(pids["inner"]), "supervisor", "permanent", 0),
            "mail": (repr(pids["mail"]), "worker", "temporary", 0),
        }


async def test_tree_gives_each_childs_mode_and_mailbox_length() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())
        mail = {info.id: info.pid for info in await which_children(sup)}["mail"]
        for message in ("x", "y", "z"):
            trouper.send(mail, message)

        children = by_id(await tree(sup))

        assert (children["w1"]["mode"], children["w1"]["mailbox_len"]) == ("reactive", 0)
        assert (children["mail"]["mode"], children["mail"]["mailbox_len"]) == ("task", 3)
        assert children["w1"]["behaviour"] == "Worker"


async def test_tree_nests_the_children_of_a_child_supervisor() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await two_levels(me)
        w2 = await started("w2")

        inner = by_id(await tree(sup))["inner"]

        assert inner["behaviour"] == "SupervisorServer"
        assert inner["mode"] == "task"
        [child] = inner["children"]
        assert (child["id"], child["pid"], child["type"], child["restarts"]) == (
            "w2",
            repr(w2),
            "worker",
            0,
        )
        assert child["mode"] == "reactive"


async def test_tree_is_plain_data() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())

        top = await tree(sup)

        assert json.loads(json.dumps(top)) == top


async def test_tree_restart_counts_go_up_after_a_crash() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await two_levels(me)
        w2 = await started("w2")
        ref = trouper.monitor(w2)

        trouper.exit(w2, "boom")
        await trouper.receive(lambda m: isinstance(m, Down) and m.ref is ref, timeout=WAIT)
        new_w2 = await started("w2")

        inner = by_id(await tree(sup))["inner"]
        assert inner["restarts"] == 0
        [child] = inner["children"]
        assert (child["pid"], child["restarts"]) == (repr(new_w2), 1)


async def test_tree_shows_a_stopped_child_without_a_pid() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())
        await trouper.supervision.terminate_child(sup, "w1")

        w1 = by_id(await tree(sup))["w1"]

        assert w1["pid"] is None
        assert w1["restarts"] == 0


async def test_format_tree_prints_one_line_per_process_indented_by_depth() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await two_levels(me)
        w2 = await started("w2")
        pids = {info.id: info.pid for info in await which_children(sup)}

        lines = format_tree(await tree(sup)).splitlines()

        assert len(lines) == 5  # top, w1, inner, w2, mail
        depth = {}
        for line in lines:
            for label, pid in [
                ("top", sup),
                ("w1", pids["w1"]),
                ("inner", pids["inner"]),
                ("w2", w2),
                ("mail", pids["mail"]),
            ]:
                if repr(pid) in line:
                    depth[label] = len(line) - len(line.lstrip(" "))
        assert depth["top"] < depth["w1"] == depth["inner"] == depth["mail"] < depth["w2"]


async def test_format_tree_names_each_child_by_its_id() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())

        labels = [line.split()[0] for line in format_tree(await tree(sup)).splitlines()]

        assert sorted(labels[1:]) == ["inner", "mail", "w1", "w2"]
        assert labels[labels.index("inner") + 1] == "w2"  # a supervisor's children follow it


async def test_tree_counts_all_children_of_each_supervisor() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())

        top = await tree(sup)

        assert top["child_count"] == 3
        assert by_id(top)["inner"]["child_count"] == 1


async def test_tree_with_max_children_lists_the_first_children_and_counts_them_all() -> None:
    async with trouper.open_node():
        dynamic = await DynamicSupervisor.start_link(name="many")
        pids = [
            await start_child("many", ChildSpec(id="w", start=Worker, args=(trouper.self(), n)))
            for n in range(5)
        ]

        node = await tree(dynamic, max_children=2)

        assert node["child_count"] == 5
        assert [child["pid"] for child in node["children"]] == [repr(p) for p in pids[:2]]


async def test_tree_with_max_children_bounds_every_level() -> None:
    async with trouper.open_node():
        sup = await two_levels(trouper.self())

        top = await tree(sup, max_children=1)

        assert top["child_count"] == 3
        assert [child["id"] for child in top["children"]] == ["w1"]  # start order


async def linker(test: Pid, n: int) -> None:
    """A task process that links to ``n`` processes it spawns, then waits."""
    for _ in range(n):
        trouper.spawn_link(hold_mail)
    trouper.send(test, ("started", "linker", trouper.self()))
    await trouper.receive(lambda m: False)


async def test_tree_with_linked_lists_the_processes_a_worker_started_and_linked_to() -> None:
    async with trouper.open_node():
        me = trouper.self()
        await Supervisor.start_link(
            [ChildSpec(id="linker", start=trouper.spawn_link, args=(linker, me, 3))], name="top"
        )
        pid = await started("linker")
        info = trouper.process_info(pid)
        assert info is not None
        spawned = {peer for peer in info.links if peer != trouper.whereis("top")}

        [child] = (await tree("top", linked=True))["children"]
        [bounded] = (await tree("top", linked=True, max_children=2))["children"]
        [plain] = (await tree("top"))["children"]

        assert child["linked_count"] == 3
        assert {entry["pid"] for entry in child["linked"]} == {repr(p) for p in spawned}
        assert {entry["mode"] for entry in child["linked"]} == {"task"}
        assert (bounded["linked_count"], len(bounded["linked"])) == (3, 2)
        assert "linked" not in plain

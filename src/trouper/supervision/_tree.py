"""The whole live supervision tree as plain data (for ``trouper tree`` and the observer page)."""

from __future__ import annotations

from typing import Any

import trouper

from ._common import request


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else repr(value)


def _process_fields(pid: trouper.Pid) -> dict[str, Any]:
    info = trouper.process_info(pid)
    if info is None:
        return {"status": "dead"}
    return {
        "name": info.name,
        "behaviour": info.behaviour,
        "status": info.status,
        "mode": info.mode,
        "mailbox_len": info.mailbox_len,
        "messages_handled": info.messages_handled,
    }


async def tree(
    sup: trouper.Pid | str, *, max_children: int | None = None, linked: bool = False
) -> dict[str, Any]:
    """Describe the supervisor ``sup`` and, recursively, every child supervisor below it.

    Returns nested dicts of plain values (str, int, None, lists): pid, name, behaviour,
    status, mode, mailbox length, and per child its id, type, restart type and restart count.
    Children that are supervisors carry their own ``children``, and every supervisor its
    ``child_count``.

    Args:
        max_children: list at most this many children of each supervisor (the first ones,
            in start order); ``child_count`` still counts them all. A live view of a
            DynamicSupervisor with 100,000 connections needs this: its size is then bounded
            by the limit, not by the load.
        linked: also list, for each worker, the processes it started and linked to without a
            supervisor (``linked``, at most ``max_children`` of them, and ``linked_count``):
            a connection's channels, say. Erlang's observer follows links the same way.
    """
    pid = sup if isinstance(sup, trouper.Pid) else trouper.whereis(sup)
    if pid is None:
        raise trouper.NameNotRegisteredError(str(sup))
    count, children = await request(pid, ("children", max_children))
    node: dict[str, Any] = {
        "pid": repr(pid),
        **_process_fields(pid),
        "child_count": count,
        "children": [],
    }
    for info, child_pid in children:
        entry: dict[str, Any] = {
            "id": _plain(info.id),
            "pid": repr(child_pid) if child_pid is not None else _plain(info.pid),
            "type": info.type,
            "restart": info.restart,
            "restarts": info.restarts,
        }
        if child_pid is not None:
            if info.type == "supervisor" and trouper.is_alive(child_pid):
                entry.update(await tree(child_pid, max_children=max_children, linked=linked))
                entry["pid"] = repr(child_pid)
            else:
                entry.update(_process_fields(child_pid))
                if linked:
                    entry.update(_linked(child_pid, max_children))
        node["children"].append(entry)
    return node


def _linked(pid: trouper.Pid, limit: int | None) -> dict[str, Any]:
    """The processes ``pid`` spawned and is linked to (not its supervisor, not its peers)."""
    info = trouper.process_info(pid)
    if info is None:
        return {}
    started = []
    for peer in info.links:
        if peer == info.parent:  # its supervisor: not started by it (and maybe huge to inspect)
            continue
        peer_info = trouper.process_info(peer)
        if peer_info is not None and peer_info.parent == pid:
            started.append(peer)
    shown = started if limit is None else started[:limit]
    return {
        "linked_count": len(started),
        "linked": [{"pid": repr(peer), **_process_fields(peer)} for peer in shown],
    }


def format_tree(node: dict[str, Any], indent: str = "") -> str:
    """Render :func:`tree`'s result as indented text, one process per line."""
    label = node.get("id", node.get("name")) or node.get("behaviour") or "supervisor"
    parts = [f"{indent}{label} {node['pid']}"]
    details = [
        f"{key}={node[key]}"
        for key in ("behaviour", "mode", "status", "mailbox_len", "restarts")
        if node.get(key) is not None
    ]
    lines = [parts[0] + ("  " + " ".join(details) if details else "")]
    for child in node.get("children", ()):
        lines.append(format_tree(child, indent + "  "))
    return "\n".join(lines)

"""Supervisor reports as structlog events, named after OTP's report labels."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import structlog

import trouper

log = structlog.get_logger("trouper.supervision")


def _supervisor_label() -> str:
    me = trouper.self()
    info = trouper.process_info(me)
    return f"{info.name} {me!r}" if info is not None and info.name else repr(me)


def report(event: str, *, child_id: Hashable, pid: Any, reason: Any = None, **extra: Any) -> None:
    """Emit one supervisor report: ``child_started`` at info level, the others as errors."""
    fields = {"supervisor": _supervisor_label(), "child_id": child_id, "pid": repr(pid), **extra}
    if event == "child_started":
        log.info(event, **fields)
    else:
        log.error(
            event,
            reason=repr(reason),
            exc_info=reason if isinstance(reason, BaseException) else None,
            **fields,
        )

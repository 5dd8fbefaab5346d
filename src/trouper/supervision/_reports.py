"""Supervisor reports as structlog events, named after OTP's report labels."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import structlog

import trouper

log = structlog.get_logger("trouper.supervision")


def report(event: str, *, child_id: Hashable, pid: Any, reason: Any = None, **extra: Any) -> None:
    """Emit one supervisor report: ``child_started`` at info level, the others as errors.

    The supervisor is the calling process (named by pid; its registered name is in
    ``process_info`` for whoever needs it: looking it up here would cost more than the
    report on a supervisor with a million children).
    """
    fields = {"supervisor": repr(trouper.self()), "child_id": child_id, "pid": repr(pid), **extra}
    if event == "child_started":
        log.info(event, **fields)
    else:
        log.error(
            event,
            reason=repr(reason),
            exc_info=reason if isinstance(reason, BaseException) else None,
            **fields,
        )

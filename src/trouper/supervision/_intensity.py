"""Restart intensity: OTP's sliding window, as a pure function.

A supervisor may restart children at most ``intensity`` times within any ``period``
seconds. OTP keeps the timestamps of recent restarts; on each restart it drops the ones
older than ``period`` (a stamp exactly ``period`` seconds old still counts), adds ``now``,
and gives up if more than ``intensity`` remain. OTP uses whole seconds; trouper uses the
trio clock's float seconds with the same inclusive boundary.
"""

from __future__ import annotations

from collections import deque

# Elixir's choice (3 restarts in 5 seconds) rather than Erlang's (1 in 5): a child that
# crashes twice in quick succession, a routine event for a network client, should not take
# its whole supervisor down.
DEFAULT_INTENSITY = 3
DEFAULT_PERIOD = 5.0


def add_restart(
    stamps: tuple[float, ...], now: float, intensity: int, period: float
) -> tuple[tuple[float, ...], bool]:
    """Record a restart at ``now``; return the new window and whether the limit is exceeded.

    ``stamps`` are the restart times still in the window, oldest first. With intensity N the
    Nth restart in a window is allowed and the (N+1)th is not; intensity 0 allows none.
    """
    kept = tuple(stamp for stamp in stamps if now - stamp <= period)
    window = (*kept, now)
    return window, len(window) > intensity


class RestartWindow:
    """:func:`add_restart` as a running structure: O(1) amortized per restart.

    A supervisor with a huge intensity (restarts are its normal business) keeps many stamps
    in the window; the pure function copies them all on every restart, this drops only the
    expired ones from the left. The two agree on every sequence (a property test says so).
    """

    __slots__ = ("_stamps", "intensity", "period")

    def __init__(self, intensity: int, period: float) -> None:
        self.intensity = intensity
        self.period = period
        self._stamps: deque[float] = deque()

    def add(self, now: float) -> bool:
        """Record a restart at ``now`` (never earlier than the last); True if over the limit."""
        stamps = self._stamps
        while stamps and now - stamps[0] > self.period:
            stamps.popleft()
        stamps.append(now)
        return len(stamps) > self.intensity

    @property
    def stamps(self) -> tuple[float, ...]:
        return tuple(self._stamps)


def validate_intensity(intensity: object, period: object) -> None:
    """Raise ValueError for flags OTP would reject (``{supervisor_data, {invalid_..., V}}``)."""
    if not isinstance(intensity, int) or isinstance(intensity, bool) or intensity < 0:
        raise ValueError(f"invalid intensity {intensity!r}: must be an int >= 0")
    if not isinstance(period, int | float) or isinstance(period, bool) or period <= 0:
        raise ValueError(f"invalid period {period!r}: must be a number > 0")

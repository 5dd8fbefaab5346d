"""RestartWindow (what supervisors use) agrees with the pure add_restart on every sequence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trouper.supervision import RestartWindow, add_restart


@given(
    intensity=st.integers(min_value=0, max_value=6),
    period=st.floats(min_value=0.5, max_value=10.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=4.0), max_size=40),
)
def test_restart_window_matches_add_restart(
    intensity: int, period: float, gaps: list[float]
) -> None:
    window = RestartWindow(intensity, period)
    stamps: tuple[float, ...] = ()
    now = 0.0
    for gap in gaps:
        now += gap
        stamps, exceeded = add_restart(stamps, now, intensity, period)
        assert window.add(now) == exceeded
        assert window.stamps == stamps


def test_a_stamp_exactly_one_period_old_still_counts() -> None:
    window = RestartWindow(1, 5.0)
    assert window.add(0.0) is False
    assert window.add(5.0) is True  # the restart at 0.0 is exactly 5 s old: still inside

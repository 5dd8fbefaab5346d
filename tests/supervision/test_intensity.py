"""Restart intensity: OTP's sliding window (otp-semantics.md A8, "Restart intensity algorithm").

``add_restart`` is a pure function, so it is tested without a node: examples for each rule,
then a property test against a brute-force model that keeps the whole restart history.
Times are integers or binary fractions so that every subtraction is exact.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trouper.supervision import DEFAULT_INTENSITY, DEFAULT_PERIOD, add_restart


def replay(times: list[float], intensity: int, period: float) -> list[bool]:
    """Feed restarts at ``times`` one after another; return whether each one exceeded."""
    stamps: tuple[float, ...] = ()
    results = []
    for now in times:
        stamps, exceeded = add_restart(stamps, now, intensity, period)
        results.append(exceeded)
    return results


def test_intensity_n_allows_n_restarts_at_the_same_instant() -> None:
    assert replay([10.0, 10.0, 10.0], intensity=3, period=5.0) == [False, False, False]


def test_the_restart_after_the_nth_in_the_window_exceeds_the_intensity() -> None:
    assert replay([10.0, 10.0, 10.0, 10.0], intensity=3, period=5.0) == [
        False,
        False,
        False,
        True,
    ]


def test_intensity_zero_gives_up_at_the_first_restart() -> None:
    stamps, exceeded = add_restart((), 10.0, 0, 5.0)

    assert exceeded
    assert stamps == (10.0,)


def test_a_stamp_exactly_period_old_still_counts() -> None:
    stamps, exceeded = add_restart((10.0,), 15.0, 1, 5.0)

    assert stamps == (10.0, 15.0)
    assert exceeded


def test_a_stamp_just_older_than_period_is_dropped() -> None:
    stamps, exceeded = add_restart((10.0,), 15.25, 1, 5.0)

    assert stamps == (15.25,)
    assert not exceeded


def test_restarts_spread_wider_than_the_period_never_accumulate() -> None:
    times = [6.0 * n for n in range(50)]
    stamps: tuple[float, ...] = ()
    for now in times:
        stamps, exceeded = add_restart(stamps, now, 1, 5.0)

        assert stamps == (now,)
        assert not exceeded


def test_only_stamps_inside_the_window_are_kept() -> None:
    stamps, exceeded = add_restart((1.0, 2.0, 3.0, 4.0), 8.0, 10, 5.0)

    assert stamps == (3.0, 4.0, 8.0)
    assert not exceeded


def test_defaults_are_elixirs_three_restarts_in_five_seconds() -> None:
    assert DEFAULT_INTENSITY == 3
    assert DEFAULT_PERIOD == 5.0


# ---------------------------------------------------------------------------------------------
# Property: the window agrees with a model that remembers every restart


def model_exceeded(history: list[float], intensity: int, period: float) -> bool:
    """Brute force: the latest restart exceeds if more than ``intensity`` restarts of the whole
    history happened at most ``period`` seconds before it (itself included)."""
    now = history[-1]
    return sum(1 for t in history if now - t <= period) > intensity


quarters = st.integers(min_value=0, max_value=200).map(lambda n: n / 4)


@given(
    gaps=st.lists(quarters, min_size=1, max_size=40),
    intensity=st.integers(min_value=0, max_value=6),
    period=st.integers(min_value=1, max_value=40).map(lambda n: n / 4),
)
def test_add_restart_agrees_with_a_model_keeping_the_whole_history(
    gaps: list[float], intensity: int, period: float
) -> None:
    times = []
    now = 0.0
    for gap in gaps:
        now += gap
        times.append(now)

    stamps: tuple[float, ...] = ()
    for i, now in enumerate(times):
        history = times[: i + 1]
        stamps, exceeded = add_restart(stamps, now, intensity, period)

        assert exceeded == model_exceeded(history, intensity, period)
        assert stamps == tuple(t for t in history if now - t <= period)

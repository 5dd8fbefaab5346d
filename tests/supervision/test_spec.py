"""Child specs and supervisor flags: frozen data, validated when built (otp-semantics.md A8).

A bad spec or bad flags are a clear error before anything starts: the last tests check that
``Supervisor.start_link`` rejects them without starting a single process.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest

import trouper
from trouper.supervision import (
    Backoff,
    ChildSpec,
    ChildSpecError,
    Supervisor,
    SupervisorFlags,
    child_spec,
)


class Worker(trouper.GenServer):
    """A reactive server that tells ``test`` it started."""

    def init(self, test: trouper.Pid) -> None:
        trouper.send(test, ("started", trouper.self()))


class NotAnActor:
    pass


# ---------------------------------------------------------------------------------------------
# ChildSpec


def test_child_spec_defaults_are_otps() -> None:
    spec = ChildSpec(id="w", start=Worker)

    assert spec.args == ()
    assert spec.restart == "permanent"
    assert spec.type == "worker"
    assert spec.significant is False
    assert spec.backoff is None


def test_a_worker_spec_defaults_to_a_five_second_shutdown() -> None:
    assert ChildSpec(id="w", start=Worker).shutdown == 5.0


def test_a_supervisor_spec_defaults_to_an_infinite_shutdown() -> None:
    assert ChildSpec(id="s", start=Worker, type="supervisor").shutdown == "infinity"


def test_an_explicit_shutdown_overrides_the_default() -> None:
    assert ChildSpec(id="s", start=Worker, type="supervisor", shutdown=2.5).shutdown == 2.5


def test_a_child_spec_is_frozen() -> None:
    spec = ChildSpec(id="w", start=Worker)

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.restart = "temporary"  # type: ignore[misc]


def test_an_unhashable_id_is_rejected() -> None:
    with pytest.raises(ChildSpecError, match="hashable"):
        ChildSpec(id=["not", "hashable"], start=Worker)


def test_a_start_that_is_not_callable_is_rejected() -> None:
    with pytest.raises(ChildSpecError, match="callable"):
        ChildSpec(id="w", start="Worker")  # type: ignore[arg-type]


def test_a_start_class_that_is_not_an_actor_is_rejected() -> None:
    with pytest.raises(ChildSpecError, match="NotAnActor"):
        ChildSpec(id="w", start=NotAnActor)


def test_args_that_are_not_a_tuple_are_rejected() -> None:
    with pytest.raises(ChildSpecError, match="args"):
        ChildSpec(id="w", start=Worker, args=[1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize("restart", ["forever", "Permanent", None, 1])
def test_an_unknown_restart_type_is_rejected(restart: Any) -> None:
    with pytest.raises(ChildSpecError, match="restart"):
        ChildSpec(id="w", start=Worker, restart=restart)


@pytest.mark.parametrize("child_type", ["thread", "Worker", None])
def test_an_unknown_child_type_is_rejected(child_type: Any) -> None:
    with pytest.raises(ChildSpecError, match="type"):
        ChildSpec(id="w", start=Worker, type=child_type)


@pytest.mark.parametrize("shutdown", [-1, -0.5, math.nan, "never", "5", True, False])
def test_a_bad_shutdown_value_is_rejected(shutdown: Any) -> None:
    with pytest.raises(ChildSpecError, match="shutdown"):
        ChildSpec(id="w", start=Worker, shutdown=shutdown)


@pytest.mark.parametrize("shutdown", [0, 0.5, 30, "brutal_kill", "infinity"])
def test_valid_shutdown_values_are_accepted(shutdown: Any) -> None:
    assert ChildSpec(id="w", start=Worker, shutdown=shutdown).shutdown == shutdown


def test_a_significant_permanent_child_is_rejected() -> None:
    with pytest.raises(ChildSpecError, match="significant"):
        ChildSpec(id="w", start=Worker, restart="permanent", significant=True)


@pytest.mark.parametrize("restart", ["transient", "temporary"])
def test_transient_and_temporary_children_may_be_significant(restart: Any) -> None:
    assert ChildSpec(id="w", start=Worker, restart=restart, significant=True).significant


def test_a_non_bool_significant_is_rejected() -> None:
    with pytest.raises(ChildSpecError, match="significant"):
        ChildSpec(id="w", start=Worker, restart="transient", significant=1)  # type: ignore[arg-type]


def test_a_backoff_that_is_not_a_backoff_is_rejected() -> None:
    with pytest.raises(ChildSpecError, match="backoff"):
        ChildSpec(id="w", start=Worker, backoff=1.0)  # type: ignore[arg-type]


def test_child_spec_helper_defaults_the_id_to_the_factory_name() -> None:
    spec = child_spec(Worker, "arg", restart="transient")

    assert spec == ChildSpec(id="Worker", start=Worker, args=("arg",), restart="transient")


# ---------------------------------------------------------------------------------------------
# Backoff


def test_backoff_delay_doubles_from_initial_up_to_max() -> None:
    backoff = Backoff(initial=1, factor=2, max=4)

    assert [backoff.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_backoff_with_factor_one_is_a_constant_delay() -> None:
    backoff = Backoff(initial=0.5, factor=1, max=30)

    assert [backoff.delay(n) for n in range(1, 5)] == [0.5, 0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    "fields",
    [{"initial": -1}, {"max": -1}, {"reset_after": -1}, {"initial": math.nan}, {"factor": 0.5}],
    ids=["negative-initial", "negative-max", "negative-reset", "nan-initial", "factor-below-1"],
)
def test_a_bad_backoff_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ChildSpecError):
        Backoff(**fields)


# ---------------------------------------------------------------------------------------------
# SupervisorFlags


def test_supervisor_flags_default_to_one_for_one_three_in_five_seconds_never() -> None:
    assert SupervisorFlags() == SupervisorFlags(
        strategy="one_for_one", intensity=3, period=5.0, auto_shutdown="never"
    )


@pytest.mark.parametrize("strategy", ["simple_one_for_one", "one-for-one", "", None])
def test_an_invalid_strategy_is_rejected(strategy: Any) -> None:
    with pytest.raises(ValueError, match="strategy"):
        SupervisorFlags(strategy=strategy)


@pytest.mark.parametrize("intensity", [-1, 1.5, "3", True, None])
def test_an_invalid_intensity_is_rejected(intensity: Any) -> None:
    with pytest.raises(ValueError, match="intensity"):
        SupervisorFlags(intensity=intensity)


def test_intensity_zero_is_valid() -> None:
    assert SupervisorFlags(intensity=0).intensity == 0


@pytest.mark.parametrize("period", [0, -5, "5", True, None])
def test_an_invalid_period_is_rejected(period: Any) -> None:
    with pytest.raises(ValueError, match="period"):
        SupervisorFlags(period=period)


@pytest.mark.parametrize("auto_shutdown", ["sometimes", "any", None])
def test_an_invalid_auto_shutdown_is_rejected(auto_shutdown: Any) -> None:
    with pytest.raises(ValueError, match="auto_shutdown"):
        SupervisorFlags(auto_shutdown=auto_shutdown)


def test_supervisor_flags_are_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        SupervisorFlags().intensity = 10  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Rejected by Supervisor.start_link before anything starts


async def test_duplicate_child_ids_are_rejected_before_any_child_starts() -> None:
    async with trouper.open_node():
        me = trouper.self()
        before = trouper.processes()
        specs = [
            ChildSpec(id="same", start=Worker, args=(me,)),
            ChildSpec(id="same", start=Worker, args=(me,)),
        ]

        with pytest.raises(ChildSpecError, match="duplicate"):
            await Supervisor.start_link(specs)

        assert trouper.processes() == before
        assert await trouper.receive(timeout=0, after=None) is None


async def test_a_significant_child_under_auto_shutdown_never_is_rejected_before_starting() -> None:
    async with trouper.open_node():
        me = trouper.self()
        before = trouper.processes()
        specs = [
            ChildSpec(id="first", start=Worker, args=(me,)),
            ChildSpec(id="sig", start=Worker, args=(me,), restart="transient", significant=True),
        ]

        with pytest.raises(ChildSpecError, match="significant"):
            await Supervisor.start_link(specs, auto_shutdown="never")

        assert trouper.processes() == before
        assert await trouper.receive(timeout=0, after=None) is None


async def test_invalid_flags_are_rejected_by_start_link_before_starting() -> None:
    async with trouper.open_node():
        before = trouper.processes()

        with pytest.raises(ValueError, match="intensity"):
            await Supervisor.start_link(
                [ChildSpec(id="w", start=Worker, args=(trouper.self(),))], intensity=-1
            )

        assert trouper.processes() == before


async def test_something_that_is_not_a_child_spec_is_rejected_before_starting() -> None:
    async with trouper.open_node():
        before = trouper.processes()

        with pytest.raises(ChildSpecError, match="ChildSpec"):
            await Supervisor.start_link([("w", Worker)])  # type: ignore[list-item]

        assert trouper.processes() == before


def test_supervisor_child_spec_rejects_duplicate_ids_when_built() -> None:
    specs = [ChildSpec(id="same", start=Worker), ChildSpec(id="same", start=Worker)]

    with pytest.raises(ChildSpecError, match="duplicate"):
        Supervisor.child_spec("inner", specs)


def test_supervisor_child_spec_is_a_supervisor_with_an_infinite_shutdown() -> None:
    spec = Supervisor.child_spec("inner", [ChildSpec(id="w", start=Worker)])

    assert spec.id == "inner"
    assert spec.type == "supervisor"
    assert spec.shutdown == "infinity"
    assert spec.restart == "permanent"

"""Fixtures for the pubsub tests; the helpers themselves are in pubsub_helpers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pubsub_helpers import Recorder

from trouper import pubsub


@pytest.fixture
def recorder(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """A registered :class:`Recorder`, unregistered after the test."""
    dispatcher = pubsub.register_dispatcher(Recorder(f"tests.recorder.{request.node.name}"))
    yield dispatcher
    pubsub.unregister_dispatcher(dispatcher.name)

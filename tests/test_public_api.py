"""Every public name is exported once, exists, and the layers only import downwards."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "trouper",
    "trouper.actors",
    "trouper.supervision",
    "trouper.pubsub",
    "trouper.cluster",
    "trouper.channels",
    "trouper.channels.protocol",
    "trouper.channels.client",
    "trouper.apps",
    "trouper.apps.chat",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_is_exported_once_and_exists(name: str) -> None:
    package = importlib.import_module(name)
    exported = package.__all__
    assert len(exported) == len(set(exported)), "a name is exported twice"
    for attribute in exported:
        assert hasattr(package, attribute), attribute


@pytest.mark.parametrize("name", PACKAGES[1:])
def test_nothing_public_is_left_unexported(name: str) -> None:
    package = importlib.import_module(name)
    public = {
        attribute
        for attribute, value in vars(package).items()
        if not attribute.startswith("_") and getattr(value, "__module__", "").startswith(name)
    }
    assert public <= set(package.__all__), public - set(package.__all__)


def test_the_top_level_package_reexports_the_actor_runtime() -> None:
    import trouper
    import trouper.actors

    for attribute in trouper.actors.__all__:
        assert getattr(trouper, attribute) is getattr(trouper.actors, attribute)

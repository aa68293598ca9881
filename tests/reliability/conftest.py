"""Reliability fixtures: the race model, the ``slow`` marker, the test service operator."""

from __future__ import annotations

import os

import pytest

from tests.engine.conftest import SERVICE, model_dir  # noqa: F401  (registers the test_echo operator)

MODELS = os.path.join(os.path.dirname(__file__), "models")


def reliability_model(name: str) -> str:
    return os.path.join(MODELS, name)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long reliability run (still part of `make test`; "
                                       "deselect with -m 'not slow')")


@pytest.fixture(autouse=True)
def _reset_echo():
    SERVICE.update(fail=False, calls=0)
    yield
    SERVICE.update(fail=False, calls=0)

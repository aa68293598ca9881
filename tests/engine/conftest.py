"""Engine test fixtures: test-only service operators and small models."""

from __future__ import annotations

import os

import pytest

from tasks import registry

MODELS = os.path.join(os.path.dirname(__file__), "models")

# What the test_echo operator does next; tests flip it to make the service fail.
SERVICE = {"fail": False, "calls": 0}


@registry.operator("test_echo")
def test_echo(*, value, now):
    """Echo a value; fails on demand (for incident tests)."""
    SERVICE["calls"] += 1
    if SERVICE["fail"]:
        raise ConnectionError("ERP 超时")
    return {"value": value, "at": now.isoformat()}


@pytest.fixture(autouse=True)
def _reset_service():
    SERVICE.update(fail=False, calls=0)
    yield
    SERVICE.update(fail=False, calls=0)


def model_dir(name: str) -> str:
    return os.path.join(MODELS, name)

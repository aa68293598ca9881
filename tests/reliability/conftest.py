"""Reliability fixtures: the race model, the ``slow`` marker, the test service operator, and
the figures of a run.

Each test records what it tried through the ``figures`` fixture (operations, faults
injected, bad inputs, cells checked, what was lost); the end of the run prints them under
"reliability figures", and ``PAIGONG_FIGURES=<file>`` also writes them there as JSON.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.engine.conftest import SERVICE, model_dir  # noqa: F401  (registers the test_echo operator)

FIGURES: dict[str, dict[str, int | float | str]] = {}

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


class Figures:
    """``figures.add(area, what, n)`` adds ``n`` to a count; ``figures.set(area, what, value)`` notes a value."""

    def add(self, area: str, what: str, n: int | float = 1) -> None:
        counts = FIGURES.setdefault(area, {})
        counts[what] = counts.get(what, 0) + n

    def set(self, area: str, what: str, value) -> None:
        FIGURES.setdefault(area, {})[what] = value


@pytest.fixture
def figures() -> Figures:
    return Figures()


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for area in sorted(FIGURES):
        counts = FIGURES[area]
        terminalreporter.write_line(f"{area}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    path = os.environ.get("PAIGONG_FIGURES")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(FIGURES, fh, ensure_ascii=False, indent=1, sort_keys=True)
        terminalreporter.write_line(f"written to {path}")

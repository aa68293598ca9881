"""Run the flow-coverage check after everything else, so it can reuse the scenarios' audit logs."""

from __future__ import annotations


def pytest_collection_modifyitems(session, config, items):
    last = [item for item in items if item.nodeid.startswith("tests/workflows/test_flow_coverage.py")]
    if last:
        others = [item for item in items if item not in last]
        items[:] = others + last

"""Modeler fixtures: the admin console's app (staff, an admin and an analyst) and JSON helpers."""

from __future__ import annotations

import json

import pytest

from tests.admin.conftest import admin, template_db  # noqa: F401 - fixtures
from tests.web.conftest import app, browser, clock, engine  # noqa: F401 - fixtures


@pytest.fixture
def analyst(browser):  # noqa: F811 - the fixture imported above
    return browser("analyst")


def post_json(b, url: str, body, *, csrf: bool = True):
    """POST ``body`` as JSON the way the editor does: the session's token in the X-CSRFToken header."""
    if b.token is None:
        b.get("/login")
    headers = {"X-CSRFToken": b.token} if csrf else {}
    return b.client.post(url, data=json.dumps(body), content_type="application/json",
                         headers={"Accept": "application/json", **headers})

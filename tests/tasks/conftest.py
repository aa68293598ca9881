from __future__ import annotations

import pytest

from tests.tasks.factories import NOW, make_ref


@pytest.fixture
def ref():
    return make_ref()


@pytest.fixture
def now():
    return NOW

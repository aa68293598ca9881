"""Imports every module that registers operators (see :mod:`tasks.registry`)."""

from tasks import warranty  # noqa: F401

"""Imports every module that registers operators (see :mod:`tasks.registry`)."""

from tasks import fees, parts, penalties, settlement, sla, warranty  # noqa: F401

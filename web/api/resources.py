"""Imports every module that adds routes to the API blueprint."""

from web.api import admin, orders, tasks  # noqa: F401

"""Service-task functions: warranty, fees, parts, SLA, penalties, settlement, notifications.

Plain functions with keyword-only arguments returning JSON-ready dicts; this package imports
neither ``engine`` nor ``web``.
"""

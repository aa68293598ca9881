"""The paigong engine: durable SpiffWorkflow execution, deployment, queries, worker.

Only this package imports SpiffWorkflow or opens database sessions.
"""

from engine.clock import Clock, FakeClock
from engine.db import Database
from engine.errors import Conflict, DeployError, EngineError, InvalidInput, NotAllowed, NotFound
from engine.facade import Engine
from engine.queries import InstanceFilter, TaskFilter
from engine.results import SYSTEM, Actor

__all__ = [
    "Actor", "Clock", "Conflict", "Database", "DeployError", "Engine", "EngineError", "FakeClock",
    "InstanceFilter", "InvalidInput", "NotAllowed", "NotFound", "SYSTEM", "TaskFilter",
]

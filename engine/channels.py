"""The facade's verbs for the outside channels, gathered in one base class of the engine:
API tokens, intake with idempotency keys and schedules, the customer's side, notifications.
"""

from __future__ import annotations

from engine.customer import CustomerSide
from engine.intake import Intake
from engine.notify import Notifications
from engine.tokens import ApiTokens


class Channels(ApiTokens, Intake, CustomerSide, Notifications):
    """Mixed into :class:`engine.facade.Engine`."""

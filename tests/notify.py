"""The notification layer as the bot wires it (bot.app): domain events worded with the shipped
programme's catalog. Tests hand it to every Repository they build."""

from __future__ import annotations

from bot.notifications import notices_for
from tests.unit.flowkit import PROGRAMME

notify = notices_for(PROGRAMME.catalog)

"""Moved to ``responders.fleet_agent.formats``; kept for the demo until it imports the new name."""

from responders.fleet_agent.formats import decode_json5, dotenv_values

__all__ = ["decode_json5", "dotenv_values"]

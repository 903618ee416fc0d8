"""HubSpot: contacts and activities in, contact properties out. See README.md in this folder."""

from __future__ import annotations

from .connector import HubSpot, HubSpotSettings

name = "hubspot"

__all__ = ["HubSpot", "HubSpotSettings", "name"]

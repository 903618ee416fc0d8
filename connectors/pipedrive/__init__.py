"""Pipedrive: persons, activities and deals in, person fields out (API v2). See README.md."""

from __future__ import annotations

from .connector import Pipedrive, PipedriveSettings

__all__ = ["Pipedrive", "PipedriveSettings"]

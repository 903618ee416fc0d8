"""KPI families as pure functions over the report facts (docs/kpis.md)."""

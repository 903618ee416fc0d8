"""The shared KPI report (docs/kpis.md): computed from the store, rendered four ways."""

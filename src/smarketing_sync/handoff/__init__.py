"""Hand-off from marketing to sales: assignment, SLA clocks in business hours, breach alerts."""

"""The store: customers, claims, links, activities, deals, cursors, outbox, dead letters."""

"""The normalised ticket store: tickets, notes, alerts and internal events."""

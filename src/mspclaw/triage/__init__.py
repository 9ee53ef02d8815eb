"""Triage: intent, urgency, client context, similar tickets, alert noise and routing."""

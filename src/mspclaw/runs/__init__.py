"""Runs: the persisted executor (state machine, steps as jobs), the policy gate, approvals,
questions, rollback, and the API/CLI to start, inspect and steer runs.
"""

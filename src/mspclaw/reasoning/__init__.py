"""Reasoning: turn technician instructions into plans of tool calls (offline grammar or an LLM).

The LLM plans; it never executes. Every plan goes to the same executor and policy gate as a
playbook, and ticket text is always treated as untrusted data.
"""

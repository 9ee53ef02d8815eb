"""The closed loop: triaged ticket → playbook match → run (auto or suggested) → write back or escalate."""

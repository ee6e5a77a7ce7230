"""24/7 on-call: rotations and escalation policies, paging of urgent requests, delivery."""

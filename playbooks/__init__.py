"""Playbooks shipped with clawback (data; copy and edit them)."""

"""clawback: contain a compromised self-hosted AI agent, and prove what was done."""

__version__ = "0.1.0"

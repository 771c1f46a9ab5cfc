"""The built-in checks, one module per area. Importing them registers nothing: the audit runs
the checks listed in ``clawback.audit.checklist``."""

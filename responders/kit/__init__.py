"""The shared kit: small standard-library helpers both the engine (``clawback``) and the
responders may import, and which import neither of them (only ``responders.interface``).

- ``private_files``: files 0600 and directories 0700, created without following links;
- ``redaction``: the secret-value filter every output passes through;
- ``redacted_keys``: matching a key against the masked form a provider lists it under;
- ``references``: what a credential reference (``keyring:SERVICE/USER``, ``env:NAME``) looks like;
- ``secret_patterns``: what a secret looks like (provider key formats, variable names).
"""

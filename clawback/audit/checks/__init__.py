"""The built-in checks. Importing this package registers every one of them."""

from clawback.audit.checks import (  # noqa: F401
    code,
    exposure,
    files,
    host,
    isolation,
    operations,
    readiness,
    secrets,
    version,
)

"""Storage's own errors, so no layer above this package imports the database driver.

    StorageError                  anything the database itself failed at
    └── DatabaseUnavailable       cannot connect (one line, for the CLI and /readyz)

`DB_ERRORS` is the tuple of driver-level failures (connection lost, server error, protocol
misuse after a restart) that callers treat as "the database is unavailable, try again": one
definition instead of a copy in every module that catches them.
"""

from __future__ import annotations

import asyncpg

__all__ = ["DB_ERRORS", "REFUSED_ERRORS", "DatabaseUnavailable", "StorageError"]


class StorageError(Exception):
    """A failure of the database, not of the caller's input."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached; the message is one line for the CLI."""


DB_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # A pooled connection whose backend the server ended (restart, pg_terminate_backend) has
    # read the FATAL error but not yet the close: its next statement fails with "cannot switch
    # to state N; another operation (2) is in progress" (MagicStack/asyncpg#784), and the pool
    # then discards it. Unavailable, not a bug of ours.
    asyncpg.InternalClientError,
    StorageError,
)

# The server refused a statement (a constraint, a value out of range, a row deleted meanwhile):
# retrying the same statement fails the same way, but the batch's other rows may be fine.
REFUSED_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError,)

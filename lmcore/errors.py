"""Errors lmcore raises for bad input or impossible requests.

`LmcoreError` carries a one-line message meant for a person (the CLI prints it to stderr and
exits 1; the web app stores it as the job's `error`). Anything else escaping lmcore is a bug.
"""


class LmcoreError(Exception):
    """A failure the user can act on; str(error) is a one-line reason."""

"""`OutageLog`: one log line when a repeated background action starts failing, one when it
works again, instead of a traceback per try.

Threads that beat (the workers' alive marks, the gpu_train devices declaration, the
playground's liveness key, job heartbeats, the inference loops' cancel flags) retry every few
seconds while Redis or the database is away. Logging each failed try with its traceback turned
one 8-second Redis freeze into ~400 lines; an outage is one event, so it is logged as one:
the first failure (its exception in one line), then the recovery with how long it lasted and
how many tries failed. Thread-safe: several threads may share one.
"""

from __future__ import annotations

import logging
import threading
import time


class OutageLog:
    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger, self.what = logger, what
        self.failures = 0  # consecutive failed tries of the outage going on (0: none)
        self._since = 0.0
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        """A try failed: logged only when it starts an outage."""
        with self._lock:
            self.failures += 1
            if self.failures > 1:
                return
            self._since = time.monotonic()
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        self.logger.warning("%s failed (%s); retrying, quietly until it works again",
                            self.what, error)  # fmt: skip

    def worked(self) -> None:
        """A try worked: logged only when it ends an outage."""
        with self._lock:
            failures, self.failures = self.failures, 0
        if failures:
            lasted = time.monotonic() - self._since
            self.logger.warning("%s works again, after %.0f s and %d failed tries", self.what,
                                lasted, failures)  # fmt: skip

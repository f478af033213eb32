"""The tests' settings: what the suite needs on top of the production-safe defaults.

Set in the environment, not only here, so the processes the tests start (the run command,
`manage.py`, workers) inherit them. DEBUG is on at import, as under `make run` (static files
without collectstatic, cookies over plain http); pytest-django turns it off for each test.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-any-server-0123456789")
os.environ.setdefault("DEBUG", "true")
# One OpenMP thread in the test process and every process it starts (workers, the launcher's
# stack, training children, torchrun ranks): on a shared 2-core machine, OpenMP threads that
# spin-wait for each other made tiny-model steps 10-20x slower than one thread. A test about
# threads sets its own count (torch.set_num_threads, or OMP_NUM_THREADS in a child's env).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The training worker would give each child its share of the cores (BOTTEGA_TRAIN_TORCH_THREADS
# 0): one, like everything else here; tests/webapp/training/test_training_threads.py sets its own.
os.environ.setdefault("BOTTEGA_TRAIN_TORCH_THREADS", "1")
os.environ.setdefault("BOTTEGA_INFER_TORCH_THREADS", "1")
# Nothing is downloaded at run time (only the package index is reachable): the Hugging Face
# libraries are told so before anything imports them (they read it once, at import), so a
# harness task whose dataset is not cached fails at once instead of after network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# The per-run limits (webapp/limits/) are off for the suite, whose tests train on several
# processes and queue several runs as one non-staff user; tests/webapp/limits/ turns them on.
for _name in ("JOBS", "PARAMS", "MINUTES", "DEVICES"):
    os.environ.setdefault(f"BOTTEGA_LIMIT_{_name}", "0")
# Uploaded and trained files go to a directory of this test process's own, removed at its exit,
# not to the checkout's var/media (tests that need a particular one set their own).
if "MEDIA_ROOT" not in os.environ:
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bottega-test-media-")
    atexit.register(shutil.rmtree, os.environ["MEDIA_ROOT"], ignore_errors=True)

from webapp.settings import *  # noqa: E402, F403

# Django's default PBKDF2 runs a million iterations per hash: every user a fixture creates and
# every sign-in cost a CPU-second, minutes across the suite. The processes the tests start
# (the launcher, its workers) keep the production hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

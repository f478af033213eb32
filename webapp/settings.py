"""Bottega's settings: one module, driven by the environment, whose defaults run on a clone.

Every knob is an environment variable (see docs/architecture.md, "Configuration"), read with
webapp/environment.py's helpers. A bad value raises `ImproperlyConfigured` whose message starts
with the variable's name, so the run command can print it as one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from webapp.environment import channel_layers, database, env_bool, env_int

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BOTTEGA_VAR_DIR", BASE_DIR / "var"))


# Production-safe defaults: DEBUG off and no secret of ours. The run command (webapp/devstack/launcher.py)
# sets both for local use; the tests set them in tests/settings.py.
DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY: not set; give it a long random string (`make run` makes one in var/)"
    )

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
# Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (webapp/web/proxies.py):
# addresses or networks, comma-separated. Empty: the socket's peer is the client, headers
# are ignored (a client could forge them).
try:
    from webapp.web.proxies import parse_networks

    TRUSTED_PROXIES = parse_networks(os.environ.get("BOTTEGA_TRUSTED_PROXIES", ""))
except ValueError as _exc:
    raise ImproperlyConfigured(f"BOTTEGA_TRUSTED_PROXIES: {_exc}") from None

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves ASGI and websockets
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",  # sign-in throttling (see AXES_* below)
    "webapp.accounts",
    "webapp.jobs",
    "webapp.system",
    "webapp.corpora",
    "webapp.tokenization",
    "webapp.training",
    "webapp.registry",
    "webapp.playground",
    "webapp.arena",
    "webapp.api",
    "webapp.limits",
    "webapp.evaluation",
    "webapp.deletion",  # last: reads each app's part of the deletion plans (deletion.py)
]

MIDDLEWARE = [
    # First: /livez, /readyz, /healthz answer whatever the Host (probes call by address).
    "webapp.system.middleware.health_answers_any_host",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Sign-in required everywhere; views opt out with @login_not_required (sign-in, health).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The project's 404/403/500 pages even with DEBUG on (webapp/web/errors.py).
    "webapp.web.errors.ErrorPagesMiddleware",
    # Last, as django-axes requires: answers a locked-out sign-in with AXES_LOCKOUT_CALLABLE.
    "axes.middleware.AxesMiddleware",
]
CSRF_FAILURE_VIEW = "webapp.web.errors.csrf_failure"

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


DATABASES = {"default": database(VAR_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out (username, address)
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in throttling by django-axes (docs/architecture.md, "Security"): after
# BOTTEGA_SIGN_IN_FAILURES failed sign-ins for one username from one address, that pair is
# refused for BOTTEGA_SIGN_IN_LOCKOUT_MINUTES (each try while locked restarts the wait); a
# success clears the count. Counted in the database, so every web process shares it. Per pair,
# not per username: a stranger cannot lock a user out from elsewhere.
AXES_FAILURE_LIMIT = env_int("BOTTEGA_SIGN_IN_FAILURES", 5)
SIGN_IN_LOCKOUT_MINUTES = env_int("BOTTEGA_SIGN_IN_LOCKOUT_MINUTES", 15)
AXES_COOLOFF_TIME = SIGN_IN_LOCKOUT_MINUTES / 60  # hours; a number: settings stay JSON-able
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # no row per successful sign-in
AXES_LOCKOUT_CALLABLE = "webapp.accounts.views.locked_out"
# The address is REMOTE_ADDR only: the client webapp/web/proxies.py vouched for, never a header.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
for _name, _value in [
    ("BOTTEGA_SIGN_IN_FAILURES", AXES_FAILURE_LIMIT),
    ("BOTTEGA_SIGN_IN_LOCKOUT_MINUTES", SIGN_IN_LOCKOUT_MINUTES),
]:
    if _value <= 0:
        raise ImproperlyConfigured(f"{_name}: expected a positive number, got {_value}")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))  # collectstatic output
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start otherwise
WHITENOISE_ROOT = BASE_DIR / "static" / "root"  # served at the site's root: /favicon.ico
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Redis: broker, result backend (pings only), channel layer, rate limits --------------
# Unset means "the local default"; the run command starts its own Redis and sets it.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL: expected redis://host:port/db, got {REDIS_URL!r}")


CHANNEL_LAYERS = channel_layers(REDIS_URL)

# Celery reads every CELERY_* setting (workers/app.py); queues and pools: docs/architecture.md,
# "How it starts". The web side sends tasks by name (webapp/web/enqueue.py), routed from here.
TASK_QUEUES = ("cpu", "gpu_train", "gpu_infer")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True  # job state lives in the database; only pings keep results
CELERY_RESULT_EXPIRES = 300
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ROUTES = {
    "workers.training.*": {"queue": "gpu_train"},
    "workers.playground.*": {"queue": "gpu_infer"},
    "workers.anatomy.*": {"queue": "gpu_infer"},
}
CELERY_TASK_ACKS_LATE = False  # long jobs are acknowledged at start: never re-run by Redis
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 12 * 3600}
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {
        "task": "workers.tasks.sweep_stale_jobs",
        "schedule": float(env_int("BOTTEGA_SWEEP_SECONDS", 15)),
        "options": {"queue": "cpu", "expires": 14},
    },
    "sweep-abandoned-uploads": {
        "task": "workers.corpora.sweep_abandoned_uploads",
        "schedule": float(env_int("BOTTEGA_UPLOAD_SWEEP_SECONDS", 300)),
        "options": {"queue": "cpu", "expires": 250},
    },
    "sweep-abandoned-model-uploads": {
        "task": "workers.registry.sweep_abandoned_model_uploads",
        "schedule": float(env_int("BOTTEGA_UPLOAD_SWEEP_SECONDS", 300)),
        "options": {"queue": "cpu", "expires": 250},
    },
}

# /healthz (webapp/system/health.py): the beat sends a heartbeat through each queue this often;
# a queue is up while its last one is younger than HEALTH_STALE_SECONDS (two missed, plus slack).
HEALTH_PROBE_SECONDS = env_int("BOTTEGA_HEALTH_PROBE_SECONDS", 5)
HEALTH_STALE_SECONDS = 2 * HEALTH_PROBE_SECONDS + 2
CELERY_BEAT_SCHEDULE |= {
    f"heartbeat-{queue}": {
        "task": "workers.tasks.heartbeat",
        "schedule": float(HEALTH_PROBE_SECONDS),
        "args": (queue,),
        "options": {"queue": queue, "expires": HEALTH_PROBE_SECONDS},
    }
    for queue in TASK_QUEUES
}

# A running job whose heartbeat is older than this is marked failed by the sweep. Tasks beat
# every 3 s from a thread (webapp/jobs/reporting.py), so 30 s means a dead worker; with the sweep
# every 15 s a lost job is failed within 45 s.
JOB_HEARTBEAT_STALE_SECONDS = env_int("BOTTEGA_HEARTBEAT_STALE_SECONDS", 30)

# --- Training in supervised processes (docs/architecture.md, "Training") ------------------
# Devices (training processes) a gpu_train worker offers; 0: its GPUs, else its CPU cores.
TRAIN_DEVICES = env_int("BOTTEGA_TRAIN_DEVICES", 0)
# A worker told to stop (SIGTERM) waits this long for its run to checkpoint and re-queue.
TRAIN_STOP_TIMEOUT_S = env_int("BOTTEGA_TRAIN_STOP_TIMEOUT_S", 120)
# How long a run's events may wait for an unreachable database before the run fails.
TRAIN_STORE_TIMEOUT_S = env_int("BOTTEGA_TRAIN_STORE_TIMEOUT_S", 600)
if TRAIN_DEVICES < 0:
    raise ImproperlyConfigured(
        f"BOTTEGA_TRAIN_DEVICES: expected 0 (detect) or more, got {TRAIN_DEVICES}"
    )

# --- Corpora: chunked uploads (docs/architecture.md, "Corpora") ---------------------------
CORPUS_MAX_UPLOAD_BYTES = env_int("BOTTEGA_MAX_UPLOAD_BYTES", 1 << 30)  # per file
# The largest chunk the server accepts and the size browsers send. Daphne queues a request's
# whole body in memory before the view runs, so this bounds the web process's memory per upload.
CORPUS_CHUNK_BYTES = env_int("BOTTEGA_UPLOAD_CHUNK_BYTES", 8 << 20)
# An upload with no chunk for this long is deleted by the sweep (its row stays, `rejected`).
CORPUS_ABANDON_HOURS = env_int("BOTTEGA_UPLOAD_ABANDON_HOURS", 24)
# Conversation datasets (docs/architecture.md, "Chat"): the most characters of content one
# conversation (one line) may hold; a longer one rejects the file, naming the line.
CONVERSATION_MAX_CHARS = env_int("BOTTEGA_CONVERSATION_MAX_CHARS", 32_000)
# Evaluations (webapp/evaluation/): versions up to this many parameters are evaluated on the
# `cpu` worker, bigger ones on `gpu_infer`; an uploaded task file (YAML or JSONL) at most this big.
EVAL_CPU_MAX_PARAMS = env_int("BOTTEGA_EVAL_CPU_MAX_PARAMS", 20_000_000)
EVAL_TASK_MAX_BYTES = env_int("BOTTEGA_EVAL_TASK_MAX_BYTES", 20 * 2**20)
if CONVERSATION_MAX_CHARS <= 0:
    raise ImproperlyConfigured(
        f"BOTTEGA_CONVERSATION_MAX_CHARS: expected a positive number, got {CONVERSATION_MAX_CHARS}"
    )
# Imported models (docs/architecture.md, "Hugging Face interop"): the largest zip a staff user
# may upload, and the most it may unpack to.
MODEL_UPLOAD_MAX_BYTES = env_int("BOTTEGA_MODEL_MAX_UPLOAD_BYTES", 20 << 30)
for _name, _value in [
    ("BOTTEGA_MODEL_MAX_UPLOAD_BYTES", MODEL_UPLOAD_MAX_BYTES),
    ("BOTTEGA_MAX_UPLOAD_BYTES", CORPUS_MAX_UPLOAD_BYTES),
    ("BOTTEGA_UPLOAD_CHUNK_BYTES", CORPUS_CHUNK_BYTES),
]:
    if _value <= 0:
        raise ImproperlyConfigured(f"{_name}: expected a positive number of bytes, got {_value}")

# --- Per-user limits (docs/architecture.md, "Per-user limits"; webapp/limits/) ---------------
# For users who are not staff; an administrator may override each per user (admin: User
# limits). 0: no limit. Defaults for a shared server with one or a few GPUs: two jobs at once
# (one training while a tokenizer trains, or two runs queued), the "small" preset and a bit
# more (GPT-2 small, 124 M, is a staff job), two hours of training per run, one device.
USER_LIMIT_JOBS = env_int("BOTTEGA_LIMIT_JOBS", 2)  # queued + running, every kind of job
USER_LIMIT_PARAMS = env_int("BOTTEGA_LIMIT_PARAMS", 50_000_000)  # of a model to train
USER_LIMIT_MINUTES = env_int("BOTTEGA_LIMIT_MINUTES", 120)  # training time per run
USER_LIMIT_DEVICES = env_int("BOTTEGA_LIMIT_DEVICES", 1)  # devices (processes) per run
# Everything a user stores: corpora, tokenizers, runs' data and checkpoints, model versions.
STORAGE_QUOTA_BYTES = env_int("BOTTEGA_USER_QUOTA_BYTES", 10 << 30)
for _name, _value in [
    ("BOTTEGA_LIMIT_JOBS", USER_LIMIT_JOBS),
    ("BOTTEGA_LIMIT_PARAMS", USER_LIMIT_PARAMS),
    ("BOTTEGA_LIMIT_MINUTES", USER_LIMIT_MINUTES),
    ("BOTTEGA_LIMIT_DEVICES", USER_LIMIT_DEVICES),
    ("BOTTEGA_USER_QUOTA_BYTES", STORAGE_QUOTA_BYTES),
]:
    if _value < 0:
        raise ImproperlyConfigured(f"{_name}: expected 0 (no limit) or more, got {_value}")

# --- Playground (docs/architecture.md, "Playground") -------------------------------------
PLAYGROUND_MAX_NEW_TOKENS = env_int("BOTTEGA_PLAYGROUND_MAX_NEW_TOKENS", 1024)  # per request
PLAYGROUND_MAX_PROMPT_CHARS = env_int("BOTTEGA_PLAYGROUND_MAX_PROMPT_CHARS", 16_000)
PLAYGROUND_MAX_SCORE_CHARS = env_int("BOTTEGA_PLAYGROUND_MAX_SCORE_CHARS", 16_000)
# A websocket message holds at most one prompt (or a chat history) plus settings.
PLAYGROUND_MAX_MESSAGE_CHARS = env_int("BOTTEGA_PLAYGROUND_MAX_MESSAGE_CHARS", 72_000)
PLAYGROUND_REQUESTS_PER_MINUTE = env_int("BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE", 30)
# A request no worker starts within this is withdrawn with a message. Workers start requests
# at once (they wait for a batch slot inside the worker, with their queue position shown).
PLAYGROUND_PICKUP_TIMEOUT_S = env_int("BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S", 30)
PLAYGROUND_STREAM_TTL_S = env_int("BOTTEGA_PLAYGROUND_STREAM_TTL_S", 600)  # resume window
# A gpu_infer worker refreshes its liveness key every second with this TTL; a stream whose
# worker's key is gone (killed mid-answer) ends with an error and frees the user's slot.
PLAYGROUND_WORKER_TTL_S = env_int("BOTTEGA_PLAYGROUND_WORKER_TTL_S", 10)
PLAYGROUND_FLUSH_MS = env_int("BOTTEGA_PLAYGROUND_FLUSH_MS", 30)  # token batch interval
# The gpu_infer worker (workers/inference.py): streams decoded together per model (more wait
# in order), prompt tokens per prefill chunk, and the memory all loaded models may take
# (weights + KV slots; least recently used idle models are evicted to fit a new one).
PLAYGROUND_MAX_BATCH = env_int("BOTTEGA_PLAYGROUND_MAX_BATCH", 32)
PLAYGROUND_PREFILL_CHUNK = env_int("BOTTEGA_PLAYGROUND_PREFILL_CHUNK", 256)
PLAYGROUND_MEMORY_MB = env_int("BOTTEGA_PLAYGROUND_MEMORY_MB", 4096)
# On a warm shutdown, running streams get this long to finish; the rest end with an error.
PLAYGROUND_SHUTDOWN_GRACE_S = env_int("BOTTEGA_PLAYGROUND_SHUTDOWN_GRACE_S", 20)
PLAYGROUND_DEVICE = os.environ.get("BOTTEGA_PLAYGROUND_DEVICE", "auto")
PLAYGROUND_TORCH_THREADS = env_int("BOTTEGA_INFER_TORCH_THREADS", 0)  # 0: torch's default
# Intra-op threads of each training process (workers/training.py passes `--threads` down);
# 0: the training worker's usable cores divided by the run's processes. Beside an inference
# worker on the same cores, split them (docs/architecture.md, "Threads"; `make run` does).
TRAIN_TORCH_THREADS = env_int("BOTTEGA_TRAIN_TORCH_THREADS", 0)
if TRAIN_TORCH_THREADS < 0:
    raise ImproperlyConfigured(
        "BOTTEGA_TRAIN_TORCH_THREADS: expected 0 (the cores' share) or more, "
        f"got {TRAIN_TORCH_THREADS}"
    )
for _name, _value in [
    ("BOTTEGA_PLAYGROUND_MAX_NEW_TOKENS", PLAYGROUND_MAX_NEW_TOKENS),
    ("BOTTEGA_PLAYGROUND_MAX_PROMPT_CHARS", PLAYGROUND_MAX_PROMPT_CHARS),
    ("BOTTEGA_PLAYGROUND_MAX_MESSAGE_CHARS", PLAYGROUND_MAX_MESSAGE_CHARS),
    ("BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE", PLAYGROUND_REQUESTS_PER_MINUTE),
    ("BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S", PLAYGROUND_PICKUP_TIMEOUT_S),
    ("BOTTEGA_PLAYGROUND_WORKER_TTL_S", PLAYGROUND_WORKER_TTL_S),
    ("BOTTEGA_PLAYGROUND_MAX_BATCH", PLAYGROUND_MAX_BATCH),
    ("BOTTEGA_PLAYGROUND_PREFILL_CHUNK", PLAYGROUND_PREFILL_CHUNK),
    ("BOTTEGA_PLAYGROUND_MEMORY_MB", PLAYGROUND_MEMORY_MB),
]:
    if _value <= 0:
        raise ImproperlyConfigured(f"{_name}: expected a positive number, got {_value}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # A 4xx is logged once, by the server's access log; django.request keeps 5xx tracebacks.
    "loggers": {
        # Through the root's handler only: Django's own console handler on "django" (DEBUG
        # on) printed every 5xx line twice.
        "django": {"handlers": [], "level": "INFO"},
        "django.channels.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "axes.apps": {"level": "WARNING"},  # not its version banner in every process's start
    },
}

if not DEBUG:
    # Production is served over HTTPS, by a TLS proxy in front of daphne that sends
    # X-Forwarded-Proto, believed from BOTTEGA_TRUSTED_PROXIES only (webapp/web/proxies.py).
    # HTTPS=false is for a trial on plain http (check --deploy warns).
    HTTPS = env_bool("HTTPS", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
    SECURE_REDIRECT_EXEMPT = [r"^(livez|readyz|healthz)$"]  # probes speak plain http
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 3600 if HTTPS else 0)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # HSTS for subdomains and the browsers' preload list bind other sites of the domain: the
    # operator's choice (SECURE_HSTS_INCLUDE_SUBDOMAINS / SECURE_HSTS_PRELOAD), not a default.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]

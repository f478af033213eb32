# Bottega's production image: the web process, the Celery workers and beat all run from it
# (docker-compose.yml picks the command). Build for GPUs with a CUDA build of torch:
#   docker compose build --build-arg TORCH_INDEX_URL=<your PyTorch CUDA wheel index>
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=false \
    STATIC_ROOT=/app/staticfiles \
    BOTTEGA_VAR_DIR=/data/var \
    MEDIA_ROOT=/data/media

WORKDIR /app
RUN useradd --create-home --uid 1000 bottega && mkdir -p /data && chown bottega /data

# torch first and alone: the largest layer, cached across code changes. An empty
# TORCH_INDEX_URL takes torch==2.13.0 from the default index.
ARG TORCH_INDEX_URL=""
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0; \
    else \
        pip install torch==2.13.0; \
    fi

COPY pyproject.toml ./
COPY lmcore ./lmcore
COPY workers ./workers
COPY webapp ./webapp
COPY templates ./templates
COPY static ./static
COPY manage.py Procfile ./
RUN pip install . \
 && DEBUG=false SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input

USER bottega
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "webapp.asgi:application"]

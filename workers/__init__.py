"""Bottega's Celery app and its thin tasks (`celery -A workers worker -Q cpu`)."""

from workers.app import app

__all__ = ["app"]

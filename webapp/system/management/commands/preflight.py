"""`manage.py preflight`: check the database and Redis; one line naming the setting on failure."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from webapp.system import preflight


class Command(BaseCommand):
    help = "Check that the configured database and Redis answer."

    def handle(self, *args, **options) -> None:
        try:
            preflight.check_database()
            preflight.check_redis(settings.REDIS_URL)
        except preflight.ConfigError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("database and Redis answer")

"""Give the first user (or `--username NAME`) a new random password and print it.

For the newcomer who lost the password `make run` printed once: a later start names this
command. It also lifts a sign-in lockout of that username (django-axes), since a forgotten
password often comes with a few failed tries.
"""

import os

from axes.utils import reset as reset_lockouts
from django.core.management.base import BaseCommand, CommandError

from webapp.accounts.first_user import first_admin, manage_command, new_password


class Command(BaseCommand):
    help = "Set a new random password for the first user (or --username) and print it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", help="default: the first superuser")
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
        parser.add_argument("--url", default=f"http://{host}:{port}/")

    def handle(self, *args, username: str | None, url: str, **options) -> None:
        user = first_admin(username)
        if user is None:
            who = f"no user named {username!r}" if username else "no superuser yet"
            hint = manage_command("createsuperuser")
            raise CommandError(f"{who}: `make run` makes the first one, or run {hint}")
        password = new_password()
        user.set_password(password)
        user.save(update_fields=["password"])
        reset_lockouts(username=user.get_username())
        self.stdout.write(
            f"Sign in at {url} as {user.get_username()!r} with password {password} "
            "(the old one no longer works)"
        )

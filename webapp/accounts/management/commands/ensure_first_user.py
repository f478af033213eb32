"""Make sure somebody can sign in: create a staff superuser when the database has no user.

The password comes from BOTTEGA_ADMIN_PASSWORD, else a random one printed once, with how to
get a new one (`reset_admin_password`). Running it again with users present changes nothing,
and says the same, and how to make another user, as commands the person at the terminal can
run.
"""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from webapp.accounts.first_user import manage_command, new_password


class Command(BaseCommand):
    help = "Create the first (staff) user if there is none, and print how to sign in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("BOTTEGA_ADMIN_USER", "admin"))
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, username: str, url: str, **options) -> None:
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write(
                f"Sign in at {url} with an existing user. Lost the first user's password? "
                f"{manage_command('reset_admin_password')} prints a new one "
                f"(another user: {manage_command('createsuperuser')})."
            )
            return
        password = os.environ.get("BOTTEGA_ADMIN_PASSWORD") or new_password()
        User.objects.create_superuser(username=username, password=password, email="")
        shown = (
            password if "BOTTEGA_ADMIN_PASSWORD" not in os.environ else "(BOTTEGA_ADMIN_PASSWORD)"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the first user. Sign in at {url} as {username!r} with password {shown}"
            )
        )
        self.stdout.write(f"Lost it? {manage_command('reset_admin_password')} prints a new one.")

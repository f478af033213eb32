"""The two boards every installation starts with, one per kind of version; staff add more
in the admin."""

from django.db import migrations

BOARDS = [
    ("chat", "Chat", "chat", "Chat versions answer the prompt as a user's message."),
    ("completion", "Completion", "completion", "Base versions continue the prompt as text."),
]


def create(apps, schema_editor):
    Board = apps.get_model("arena", "Board")
    for slug, title, kind, description in BOARDS:
        Board.objects.get_or_create(
            slug=slug, defaults={"title": title, "kind": kind, "description": description}
        )


def remove(apps, schema_editor):
    apps.get_model("arena", "Board").objects.filter(slug__in=[b[0] for b in BOARDS]).delete()


class Migration(migrations.Migration):
    dependencies = [("arena", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]

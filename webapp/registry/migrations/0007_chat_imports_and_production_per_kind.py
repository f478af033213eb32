"""Versions imported with a chat template become chat versions (they chat with it now,
lmcore/chat_config.py), and production is per name and kind (base or chat), so a name's chat
fine-tune and its base can both be shared (docs/architecture.md, "Sharing")."""

import json
from pathlib import Path

from django.conf import settings
from django.db import migrations, models


def mark_chat_imports(apps, schema_editor):
    from lmcore.chat_config import carries_template

    ModelVersion = apps.get_model("registry", "ModelVersion")
    for version in ModelVersion.objects.filter(is_chat=False, run__isnull=True).iterator():
        if not (version.metrics or {}).get("imported"):
            continue
        path = (Path(settings.MEDIA_ROOT) / "models" / f"user-{version.owner_id}"
                / version.storage_key / "config.json")  # fmt: skip
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # its files are gone: it cannot chat either way
        if carries_template(config):
            version.is_chat = True
            version.save(update_fields=["is_chat"])


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_modelversion_base"),
    ]

    operations = [
        migrations.RunPython(mark_chat_imports, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="modelversion", name="one_production_per_name"),
        migrations.AddConstraint(
            model_name="modelversion",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "production")),
                fields=("owner", "name", "is_chat"),
                name="one_production_per_name_and_kind",
            ),
        ),
    ]

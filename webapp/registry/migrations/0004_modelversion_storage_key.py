"""ModelVersion files under a server-made `storage_key` instead of `<name>/v<N>`.

Existing versions get a key derived from their primary key (uuid5), so running this again
after an interruption finds the directories it already moved; new versions get random keys.
A directory whose old path leaves the owner's folder (a name with `../`) is not followed: its
version keeps no files, and the migration says so.
"""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import migrations, models

import webapp.jobs.models

NAMESPACE = uuid.UUID("8a4c1f2e-5d7b-4c3a-9e61-2b0f7d9c4a15")


def _owner_dir(version) -> Path:
    return Path(settings.MEDIA_ROOT) / "models" / f"user-{version.owner_id}"


def _old_dir(version) -> Path | None:
    """`<owner>/<name>/v<N>`, or None where the name leads outside the owner's folder."""
    owner = _owner_dir(version).resolve()
    old = (owner / version.name / f"v{version.version}").resolve()
    return old if old.is_relative_to(owner) and old.parent != owner else None


def forwards(apps, schema_editor):
    ModelVersion = apps.get_model("registry", "ModelVersion")
    for version in ModelVersion.objects.order_by("pk"):
        version.storage_key = uuid.uuid5(NAMESPACE, f"modelversion-{version.pk}").hex
        version.save(update_fields=["storage_key"])
        new, old = _owner_dir(version) / version.storage_key, _old_dir(version)
        if old is None:
            print(f"\n  version {version.pk} ({version.name!r}): name leaves MEDIA_ROOT, not moved")
        elif old.is_dir() and not new.exists():
            old.rename(new)
            if not any(old.parent.iterdir()):
                old.parent.rmdir()


def backwards(apps, schema_editor):
    ModelVersion = apps.get_model("registry", "ModelVersion")
    for version in ModelVersion.objects.order_by("pk"):
        new, old = _owner_dir(version) / version.storage_key, _old_dir(version)
        if old is not None and new.is_dir() and not old.exists():
            old.parent.mkdir(parents=True, exist_ok=True)
            new.rename(old)


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_model_upload")]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="storage_key",
            field=models.CharField(max_length=32, null=True, editable=False),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(
            model_name="modelversion",
            name="storage_key",
            field=models.CharField(
                default=webapp.jobs.models.new_storage_key,
                editable=False,
                max_length=32,
                unique=True,
            ),
        ),
    ]

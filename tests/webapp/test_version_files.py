"""A version's files live under a server-made key: a rename keeps them, a name can't escape
MEDIA_ROOT, and migration registry.0004 moves versions made the old way (`<name>/v<N>`)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from lmcore.errors import LmcoreError
from webapp.registry.actions import do_create_version
from webapp.registry.models import ModelVersion


def _fill(target):
    (target / "model.safetensors").write_bytes(b"weights")


@pytest.mark.django_db
def test_a_rename_keeps_the_files(alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    version = do_create_version(alice, "m", _fill, params=1, step=1)
    before = version.directory
    version.name = "renamed"
    version.save(update_fields=["name"])
    version.refresh_from_db()
    assert version.directory == before
    assert (version.directory / "model.safetensors").read_bytes() == b"weights"


@pytest.mark.django_db
def test_a_name_with_dot_dot_stays_inside_media_root(alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    version = do_create_version(alice, "../../../etc", _fill, params=1, step=1)
    assert version.directory.resolve().is_relative_to((tmp_path / "media").resolve())
    assert version.directory.parent.name == f"user-{alice.pk}"
    assert not (tmp_path / "etc").exists()


@pytest.mark.django_db
def test_a_failed_fill_leaves_neither_row_nor_directory(alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    def broken(target):
        _fill(target)
        raise LmcoreError("the copy failed")

    with pytest.raises(LmcoreError):
        do_create_version(alice, "m", broken, params=1, step=1)
    assert not ModelVersion.objects.exists()
    assert list((tmp_path / "models" / f"user-{alice.pk}").iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_a_version_made_the_old_way(alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    executor = MigrationExecutor(connection)
    old = [("registry", "0003_model_upload")]
    latest = executor.loader.graph.leaf_nodes()  # later migrations too: the rest of the suite
    executor.migrate(old)
    try:
        OldVersion = executor.loader.project_state(old).apps.get_model("registry", "ModelVersion")
        made = {}
        for name, n in [("m", 1), ("m", 2), ("../../outside", 1)]:
            made[(name, n)] = OldVersion.objects.create(
                owner_id=alice.pk, name=name, version=n, params=1, step=n
            ).pk
        owner = tmp_path / "models" / f"user-{alice.pk}"
        for n in (1, 2):
            (owner / "m" / f"v{n}").mkdir(parents=True)
            (owner / "m" / f"v{n}" / "model.safetensors").write_bytes(b"v%d" % n)
        (tmp_path / "outside" / "v1").mkdir(parents=True)  # where the old path pointed
        (tmp_path / "outside" / "v1" / "keep").write_bytes(b"not ours")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)

    for n in (1, 2):
        version = ModelVersion.objects.get(pk=made[("m", n)])
        assert len(version.storage_key) == 32
        assert version.directory == owner / version.storage_key
        assert (version.directory / "model.safetensors").read_bytes() == b"v%d" % n
    assert not (owner / "m").exists()  # the name's old folder is gone once empty
    # Nothing outside the owner's folder was followed or moved.
    assert (tmp_path / "outside" / "v1" / "keep").read_bytes() == b"not ours"
    escaped = ModelVersion.objects.get(pk=made[("../../outside", 1)])
    assert escaped.directory.parent == owner and not escaped.directory.exists()
    # New versions get fresh, distinct keys beside the migrated ones.
    fresh = do_create_version(alice, "m", _fill, params=1, step=3)
    assert fresh.version == 3
    assert ModelVersion.objects.values("storage_key").distinct().count() == 4

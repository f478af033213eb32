"""`manage.py import_model`: a transformers model becomes a version; bad input stores nothing."""

import json
import shutil
import zipfile

import pytest
from django.core.management import CommandError, call_command

from webapp.registry.models import ModelVersion

pytestmark = pytest.mark.django_db
pytest.importorskip("transformers", reason="transformers is a dev dependency")


@pytest.fixture(scope="module")
def hf_source(tmp_path_factory):
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer
    from tests.hf_models import save_hf_model
    from tests.webapp.fixtures_ml import corpus_text

    root = tmp_path_factory.mktemp("hf")
    (root / "text.txt").write_text(corpus_text(), encoding="utf-8")
    tokenizer = train_tokenizer([root / "text.txt"], TokenizerConfig(vocab_size=300))
    save_hf_model("llama-gqa", tokenizer, root / "SmolThing")
    return root / "SmolThing"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _stored(media):
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())


def test_it_imports_a_directory_as_the_first_staff_users_version(
    hf_source, admin_user, media, capsys
):
    from lmcore.checkpoint import load_checkpoint

    call_command("import_model", str(hf_source), "--name", "smol")
    summary = json.loads(capsys.readouterr().out)
    version = ModelVersion.objects.get()
    assert (summary["name"], summary["version"], version.owner) == ("smol", 1, admin_user)
    assert version.metrics["imported"] == {"architecture": "LlamaForCausalLM",
                                           "source": "SmolThing"}  # fmt: skip
    assert load_checkpoint(version.directory).model_config.mlp == "swiglu"
    assert _stored(media) == [
        f"models/user-{admin_user.pk}/{version.storage_key}/{n}"
        for n in ("config.json", "model.safetensors", "tokenizer.json")
    ]


def test_it_imports_a_zip_for_a_named_user_and_numbers_versions(hf_source, alice, tmp_path):
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in hf_source.iterdir():
            zf.write(path, f"SmolThing/{path.name}")
    call_command("import_model", str(hf_source), "--name", "smol", "--user", "alice")
    call_command("import_model", str(archive), "--name", "smol", "--user", "alice")
    assert [v.version for v in ModelVersion.objects.filter(owner=alice)] == [2, 1]


@pytest.mark.parametrize(
    "damage, message",
    [("architecture", "unsupported model: architectures ['MistralForCausalLM']"),
     ("pickled", "pytorch_model.bin: pickled weights are refused"),
     ("name", "name 'a/../b': use letters, numbers, underscores or hyphens only")],
)  # fmt: skip
def test_it_refuses_bad_input_and_stores_nothing(hf_source, admin_user, media, tmp_path,
                                                 damage, message):  # fmt: skip
    source = tmp_path / "src"
    shutil.copytree(hf_source, source)
    name = "smol"
    if damage == "architecture":
        config = json.loads((source / "config.json").read_text())
        config.update(architectures=["MistralForCausalLM"], model_type="mistral")
        (source / "config.json").write_text(json.dumps(config))
    elif damage == "pickled":
        (source / "model.safetensors").rename(source / "pytorch_model.bin")
    else:
        name = "a/../b"
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call_command("import_model", str(source), "--name", name)
    assert ModelVersion.objects.count() == 0
    assert _stored(media) == []


def test_a_model_with_a_chat_template_imports_as_a_chat_version(
    hf_source, admin_user, tmp_path, capsys
):
    from lmcore.chat_template import LMCORE_TEMPLATE

    source = tmp_path / "with-template"
    shutil.copytree(hf_source, source)
    (source / "chat_template.jinja").write_text(LMCORE_TEMPLATE)
    (source / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|end|>"}))
    call_command("import_model", str(source), "--name", "chatty")
    printed = json.loads(capsys.readouterr().out)
    assert printed["chat"] is True
    config = json.loads((ModelVersion.objects.get(name="chatty").directory / "config.json")
                        .read_text())  # fmt: skip
    assert config["chat_template"]["template"] == LMCORE_TEMPLATE
    call_command("import_model", str(hf_source), "--name", "plain")
    assert json.loads(capsys.readouterr().out)["chat"] is False

    bad = tmp_path / "bad-template"
    shutil.copytree(source, bad)
    (bad / "chat_template.jinja").write_text("{% for m in messages %}")
    with pytest.raises(CommandError, match="the chat template is not valid Jinja"):
        call_command("import_model", str(bad), "--name", "bad")
    assert not ModelVersion.objects.filter(name="bad").exists()


def test_the_migration_makes_earlier_imports_with_a_template_chat_versions(admin_user):
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "webapp.registry.migrations.0007_chat_imports_and_production_per_kind"
    )
    made = {}
    for name, tokenizer_config in (("old-chat", {"chat_template": "{{ messages }}"}),
                                   ("old-base", {})):  # fmt: skip
        version = ModelVersion.objects.create(owner=admin_user, name=name, version=1, params=1,
                                              step=0, metrics={"imported": {"source": name}})  # fmt: skip
        version.directory.mkdir(parents=True)
        config = {"format": "lmcore-checkpoint", "hf": {"tokenizer_config": tokenizer_config}}
        (version.directory / "config.json").write_text(json.dumps(config))
        made[name] = version
    gone = ModelVersion.objects.create(owner=admin_user, name="gone", version=1, params=1, step=0,
                                       metrics={"imported": {"source": "x"}})  # no files  # fmt: skip
    migration.mark_chat_imports(apps, None)
    for version in (*made.values(), gone):
        version.refresh_from_db()
    assert (made["old-chat"].is_chat, made["old-base"].is_chat, gone.is_chat) == (
        True,
        False,
        False,
    )

"""`manage.py import_model SOURCE --name NAME [--user U]`: a pretrained model becomes a model
version. SOURCE is a `transformers` directory (NanoChat or Llama family, safetensors,
byte-level BPE tokenizer.json) or a zip of one, or a GGUF file (Llama family, byte-level BPE;
lmcore/gguf_import.py).

The conversion runs in this process (no worker needed); prints the version as JSON, or exits
non-zero with the reason and stores nothing. Without --user the version belongs to the first
staff user.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lmcore.errors import LmcoreError
from lmcore.gguf_import import is_gguf
from lmcore.hf_import import extract_zip
from webapp.registry.actions import do_import_version


class Command(BaseCommand):
    help = "Import a transformers model directory (or zip), or a GGUF file, as a new version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", type=Path, metavar="SOURCE",
                            help="a model directory, a zip of one, or a .gguf file")  # fmt: skip
        parser.add_argument("--name", required=True, help="the model's name (a slug)")
        parser.add_argument("--user", help="the owner's username (default: the first staff)")

    def handle(self, *args, source: Path, name: str, user: str | None, **options) -> None:
        User = get_user_model()
        owners = User.objects.filter(is_staff=True).order_by("pk")
        if user is not None:
            owners = User.objects.filter(**{User.USERNAME_FIELD: user})
        owner = owners.first()
        if owner is None:
            raise CommandError(f"no user named {user!r}" if user else "no staff user yet")
        if not source.exists():
            raise CommandError(f"{source}: no such directory, zip or GGUF file")
        unpacked = None
        try:
            if source.is_file() and not (is_gguf(source) or source.suffix.lower() == ".gguf"):
                unpacked = Path(tempfile.mkdtemp(dir=settings.MEDIA_ROOT, prefix=".unzip-"))
                source = extract_zip(source, unpacked, settings.MODEL_UPLOAD_MAX_BYTES)
            version = do_import_version(owner, name, source)
        except LmcoreError as exc:
            raise CommandError(f"{source}: {exc}") from None
        finally:
            if unpacked is not None:
                shutil.rmtree(unpacked, ignore_errors=True)
        self.stdout.write(json.dumps(version.to_dict()))

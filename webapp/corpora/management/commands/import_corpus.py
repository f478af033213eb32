"""`manage.py import_corpus --user U FILE [--name N] [--conversations]`: a file on disk becomes
U's corpus (or, with --conversations, a conversation dataset for chat fine-tuning).

Same checks as a browser upload (size cap, quota, UTF-8, duplicates); validation runs in this
process, so no worker is needed. Prints the corpus as JSON; exits non-zero with the reason
when the file is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.corpora.actions import UploadError, do_import_corpus
from webapp.corpora.models import CorpusKind, CorpusStatus


class Command(BaseCommand):
    help = "Import a UTF-8 text file as a user's corpus (validated and measured here)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="the owner's username")
        parser.add_argument("--name", default="", help="the corpus's name (default: file name)")
        parser.add_argument("--conversations", action="store_true",
                            help="a JSONL conversation dataset, checked line by line")  # fmt: skip

    def handle(
        self, *args, file: Path, user: str, name: str, conversations: bool, **options
    ) -> None:
        User = get_user_model()
        try:
            owner = User.objects.get(**{User.USERNAME_FIELD: user})
        except User.DoesNotExist:
            raise CommandError(f"no user named {user!r}") from None
        if not file.is_file():
            raise CommandError(f"{file}: not a readable file")
        try:
            kind = CorpusKind.CONVERSATIONS if conversations else CorpusKind.TEXT
            corpus = do_import_corpus(owner, file, name=name[:200], kind=kind)
        except UploadError as exc:
            raise CommandError(f"{file}: {exc.message}") from None
        if corpus.status != CorpusStatus.READY:
            raise CommandError(f"{file}: {corpus.error}")
        summary = corpus.to_dict()
        summary["stats"] = {k: v for k, v in corpus.stats.items() if k != "char_counts"}
        self.stdout.write(json.dumps(summary))

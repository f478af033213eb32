"""`TokenizerRun`: training a byte-level BPE tokenizer on some corpora; a succeeded run *is* a
tokenizer (its `tokenizer.json` lives in `directory`). One model instead of run + artefact:
a tokenizer never exists without the run that made it, and the run's settings describe it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from webapp.jobs.models import JobStatus, Run, RunQuerySet
from webapp.web.files import StorageEntry, missing_file_message


class TokenizerRunQuerySet(RunQuerySet):
    def usable(self) -> TokenizerRunQuerySet:
        return self.filter(status=JobStatus.SUCCEEDED)


class TokenizerRun(Run):
    media_dir, group_prefix = "tokenizers", "tokenizers"
    noun = "tokenizer"
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tokenizer_runs"
    )
    name = models.CharField(max_length=200)
    corpora = models.ManyToManyField("corpora.Corpus", related_name="tokenizer_runs")
    vocab_size = models.PositiveIntegerField()
    min_frequency = models.PositiveIntegerField(default=2)
    special_tokens = models.JSONField(default=list)
    result = models.JSONField(default=dict, blank=True)  # vocab_size, bytes, seconds, per_corpus

    objects = TokenizerRunQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} ({self.vocab_size:,} tokens)"

    def get_absolute_url(self) -> str:
        return reverse("tokenization:detail", args=[self.pk])

    @property
    def tokenizer_path(self) -> Path:
        return self.directory / "tokenizer.json"

    @property
    def missing_file(self) -> str:
        """What to say when a finished tokenizer's file is not on disk; "" when it is there."""
        if self.status != JobStatus.SUCCEEDED or self.tokenizer_path.exists():
            return ""
        return missing_file_message(f"The file of tokenizer “{self.name}”", self.tokenizer_path,
                                    "delete this tokenizer and train it again")  # fmt: skip

    def storage_entry(self) -> StorageEntry:
        return replace(super().storage_entry(), name=self.name)  # its str adds the vocabulary

    def status_dict(self) -> dict[str, Any]:
        return {**super().status_dict(), "result": self.result}

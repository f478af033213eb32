"""Forms: what a request may ask for, with the messages a person reads when it can't."""

from __future__ import annotations

from django import forms
from django.conf import settings

from webapp.corpora.models import CorpusKind
from webapp.uploads.chunked import StartForm
from webapp.web.sizes import format_sizes


class CorporaField(forms.ModelMultipleChoiceField):
    """Ready corpora to read, each with its text on disk: a launch refuses a corpus whose file
    is missing, saying so, instead of a job that fails on it."""

    def clean(self, value: object) -> object:
        corpora = super().clean(value)
        missing = [c.missing_file for c in corpora or [] if c.missing_file]
        if missing:
            raise forms.ValidationError(missing)
        return corpora


class StartUploadForm(StartForm):
    """A corpus upload's start (webapp/uploads/chunked.py): the file, and whether it holds text or
    conversations."""

    kind = forms.ChoiceField(choices=CorpusKind.choices, required=False)

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or CorpusKind.TEXT

    def size_problem(self, name: str, size: int) -> str | None:
        limit = settings.CORPUS_MAX_UPLOAD_BYTES
        if size <= limit:
            return None
        shown, allowed = format_sizes(size, limit)
        return (
            f"“{name}” is {shown}; the limit is {allowed} per file. Split it into smaller "
            "files, or ask an administrator to raise it."
        )

    def columns(self) -> dict[str, str]:
        return {"kind": self.cleaned_data["kind"]}


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200)

"""Forms: what a request may ask for, with the messages a person reads when it can't."""

from __future__ import annotations

from django import forms
from django.conf import settings

from webapp.corpora.models import CorpusKind
from webapp.corpora.templatetags.corpora_format import format_sizes


class CorporaField(forms.ModelMultipleChoiceField):
    """Ready corpora to read, each with its text on disk: a launch refuses a corpus whose file
    is missing, saying so, instead of a job that fails on it."""

    def clean(self, value: object) -> object:
        corpora = super().clean(value)
        missing = [c.missing_file for c in corpora or [] if c.missing_file]
        if missing:
            raise forms.ValidationError(missing)
        return corpora


class StartUploadForm(forms.Form):
    """The file a browser is about to send: its name (a label only) and size in bytes."""

    name = forms.CharField(max_length=255, strip=False)
    size = forms.IntegerField(min_value=0)
    last_modified = forms.IntegerField(required=False, help_text="ms since the epoch")
    kind = forms.ChoiceField(choices=CorpusKind.choices, required=False)

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or CorpusKind.TEXT

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if "/" in name or "\\" in name or name.strip() in ("", ".", ".."):
            raise forms.ValidationError(
                f"The file name “{name}” contains a path. Send the file's own name only "
                "(no “/”, “\\” or “..”); nothing was stored."
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise forms.ValidationError("The file name contains control characters.")
        return name.strip()

    def clean(self) -> dict:
        data = super().clean()
        name, size = data.get("name"), data.get("size")
        if name is None or size is None:
            return data
        if size == 0:
            raise forms.ValidationError(f"“{name}” is empty: there is nothing to upload.")
        limit = settings.CORPUS_MAX_UPLOAD_BYTES
        if size > limit:
            shown, allowed = format_sizes(size, limit)
            raise forms.ValidationError(
                f"“{name}” is {shown}; the limit is {allowed} per file. Split it into "
                "smaller files, or ask an administrator to raise it."
            )
        return data

    def first_error(self) -> str:
        return next(iter(e for errors in self.errors.values() for e in errors))


class ChunkForm(forms.Form):
    """The query string of a chunk: where its bytes go in the file."""

    offset = forms.IntegerField(min_value=0)


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200)

from __future__ import annotations

from typing import Any

from django import forms

from lmcore.errors import LmcoreError
from lmcore.presets import PRESETS
from lmcore.tokenizer import SPECIAL_TOKENS, TokenizerConfig
from webapp.corpora.forms import CorporaField
from webapp.corpora.models import Corpus
from webapp.limits import policy, storage

MAX_UI_VOCAB = 65_536  # the web form's cap; the CLI allows more
PROPOSED_PRESET = "tiny"  # the training form's default preset; ?preset=NAME proposes another's


def _vocab_help() -> str:
    tuned = ", ".join(f"{p.vocab_size:,} for {name}" for name, p in PRESETS.items())
    return (
        "Tokens in the vocabulary: 256 single bytes + special tokens + learned merges. "
        f"Each preset was tuned with one: {tuned} (lmcore/presets.py)."
    )


class TokenizerRunForm(forms.Form):
    name = forms.CharField(max_length=200)
    corpora = CorporaField(
        queryset=Corpus.objects.none(), widget=forms.CheckboxSelectMultiple,
        help_text="Ready corpora to learn merges from, concatenated in the order listed.",
    )  # fmt: skip
    vocab_size = forms.IntegerField(
        initial=PRESETS[PROPOSED_PRESET].vocab_size, min_value=256, max_value=MAX_UI_VOCAB,
        help_text=_vocab_help(),
    )  # fmt: skip
    min_frequency = forms.IntegerField(
        initial=2, min_value=0, max_value=1_000_000,
        help_text="A pair must occur at least this often to be merged.",
    )  # fmt: skip
    special_tokens = forms.CharField(
        initial=" ".join(SPECIAL_TOKENS), required=False,
        help_text="Space-separated; never split, and never produced from user text.",
    )  # fmt: skip

    def __init__(self, *args: Any, user: Any, preset: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["corpora"].queryset = Corpus.objects.for_user(user).text().ready()
        self.user = user
        if preset in PRESETS:  # the vocabulary the preset was tuned with
            self.initial.setdefault("vocab_size", min(PRESETS[preset].vocab_size, MAX_UI_VOCAB))

    def clean_special_tokens(self) -> list[str]:
        return self.cleaned_data["special_tokens"].split()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if {"vocab_size", "min_frequency", "special_tokens"} <= data.keys():
            try:
                self.config().validate()
            except LmcoreError as exc:
                message = str(exc)
                field = next(
                    (
                        f
                        for f in ("vocab_size", "min_frequency")
                        if message.startswith(f.replace("_", " "))
                    ),
                    "special_tokens",
                )
                self.add_error(field, message)
        if not self.errors:  # the per-user limits (webapp/limits/policy.py)
            limits = policy.limits_for(self.user)
            problem = policy.jobs_problem(self.user, limits)
            if problem := problem or storage.launch_problem(self.user, limits):
                self.add_error(None, problem)
        return data

    def config(self) -> TokenizerConfig:
        data = self.cleaned_data
        return TokenizerConfig(
            vocab_size=data["vocab_size"],
            min_frequency=data["min_frequency"],
            special_tokens=data["special_tokens"],
        )

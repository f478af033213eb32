from __future__ import annotations

from typing import Any

from django import forms

from lmcore.errors import LmcoreError
from lmcore.tokenizer import SPECIAL_TOKENS, TokenizerConfig
from webapp.corpora.forms import CorporaField
from webapp.corpora.models import Corpus
from webapp.limits import policy, storage

MAX_UI_VOCAB = 65_536  # the web form's cap; the CLI allows more


class TokenizerRunForm(forms.Form):
    name = forms.CharField(max_length=200)
    corpora = CorporaField(
        queryset=Corpus.objects.none(), widget=forms.CheckboxSelectMultiple,
        help_text="Ready corpora to learn merges from, concatenated in the order listed.",
    )  # fmt: skip
    vocab_size = forms.IntegerField(
        initial=2048, min_value=256, max_value=MAX_UI_VOCAB,
        help_text="Tokens in the vocabulary: 256 single bytes + special tokens + learned merges.",
    )  # fmt: skip
    min_frequency = forms.IntegerField(
        initial=2, min_value=0, max_value=1_000_000,
        help_text="A pair must occur at least this often to be merged.",
    )  # fmt: skip
    special_tokens = forms.CharField(
        initial=" ".join(SPECIAL_TOKENS), required=False,
        help_text="Space-separated; never split, and never produced from user text.",
    )  # fmt: skip

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["corpora"].queryset = Corpus.objects.for_user(user).text().ready()
        self.user = user

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

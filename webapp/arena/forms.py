"""The arena's forms: a new battle (board, prompt, optional picks, sampling settings) and a
vote. Sampling settings are checked by lmcore's `SamplingParams`, as the playground does."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator

from lmcore.config import SamplingParams
from lmcore.errors import LmcoreError
from webapp.arena.actions import Refused, draw_pair, sentence
from webapp.arena.models import Board, Outcome
from webapp.playground.access import playable_versions

RANDOM = "Random"


class VersionChoice(forms.ModelChoiceField):
    def label_from_instance(self, v: Any) -> str:
        owner = f" ({v.owner.get_username()})" if v.owner_id != self.viewer.pk else ""
        return f"{v.name} v{v.version}{owner} · {'chat' if v.is_chat else 'base'}"


class BattleForm(forms.Form):
    board = forms.ModelChoiceField(
        queryset=Board.objects.all(), empty_label=None, to_field_name="slug",
        help_text="Its kind decides the versions: chat versions answer a message, base "
                  "versions continue a text. Each board rates its own votes.",
    )  # fmt: skip
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), strip=False)
    first = VersionChoice(
        queryset=None,
        required=False,
        empty_label=RANDOM,
        label="First model",
        help_text="Random: drawn among the board's versions you may use.",
    )
    second = VersionChoice(
        queryset=None,
        required=False,
        empty_label=RANDOM,
        label="Second model",
        help_text="Picked or not, which side each answers on is drawn.",
    )
    temperature = forms.FloatField(
        min_value=0,
        max_value=5,
        initial=0.8,
        help_text="0 = the most likely token each time (greedy).",
    )
    top_p = forms.FloatField(
        min_value=0.01,
        max_value=1,
        initial=0.95,
        label="Top-p",
        help_text="Sample among the most likely tokens holding this mass.",
    )
    max_new_tokens = forms.IntegerField(
        min_value=1,
        initial=200,
        label="Max new tokens",
        help_text="Each answer stops after this many tokens.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        versions = playable_versions(user).select_related("owner").order_by("name", "-version")
        for name in ("first", "second"):
            self.fields[name].queryset = versions
            self.fields[name].viewer = user
        limit = settings.PLAYGROUND_MAX_PROMPT_CHARS
        self.fields["prompt"].validators.append(MaxLengthValidator(limit))
        self.fields["prompt"].widget.attrs["maxlength"] = limit
        most = settings.PLAYGROUND_MAX_NEW_TOKENS
        self.fields["max_new_tokens"].validators.append(MaxValueValidator(most))
        self.fields["max_new_tokens"].widget.attrs["max"] = most

    def clean_prompt(self) -> str:
        prompt = self.cleaned_data["prompt"]
        if not prompt.strip():
            raise forms.ValidationError("Type a prompt: both models answer it.")
        return prompt

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        board = data.get("board")
        picks = [data[n] for n in ("first", "second") if data.get(n) is not None]
        if board is not None:
            for name in ("first", "second"):
                pick = data.get(name)
                if pick is not None and pick.is_chat != board.chat:
                    self.add_error(name, f"{pick} is {'a chat' if pick.is_chat else 'a base'} "
                                         f"version; the {board.title} board pairs "
                                         f"{board.get_kind_display().lower()} versions.")  # fmt: skip
        if board is None or self.errors:
            return data
        try:
            self.pair = draw_pair(self.user, board, picks)
        except Refused as exc:
            raise forms.ValidationError(sentence(str(exc))) from None
        self.picked = bool(picks)
        self.params = {name: data[name] for name in ("temperature", "top_p", "max_new_tokens")}
        try:  # the fields' bounds already hold these; lmcore has the last word
            SamplingParams.from_dict(self.params).validate(settings.PLAYGROUND_MAX_NEW_TOKENS)
        except LmcoreError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class VoteForm(forms.Form):
    outcome = forms.ChoiceField(choices=Outcome.choices)

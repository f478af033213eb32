"""The training form: a preset plus optional overrides, validated by lmcore's own configs."""

from __future__ import annotations

from typing import Any

from django import forms

from lmcore.config import DEVICES, GPTConfig, TrainConfig
from lmcore.errors import LmcoreError
from lmcore.presets import PRESETS, configs_from_preset
from webapp.corpora.models import Corpus, CorpusStatus
from webapp.tokenization.models import TokenizerRun
from webapp.training import capacity

MODEL_FIELDS = ("n_layer", "n_head", "d_model", "context", "dropout")
TRAIN_FIELDS = ("batch_size", "lr", "max_steps", "eval_every", "seed", "device")
# An lmcore message mentioning one of these words belongs on that field.
FIELD_WORDS = [("heads", "n_head"), ("n_head", "n_head"), ("d_model", "d_model"),
               ("dropout", "dropout"), ("context", "context"), ("batch_size", "batch_size"),
               ("lr", "lr"), ("max_steps", "max_steps"), ("eval_every", "eval_every")]  # fmt: skip


def _optional_int(
    low: int, high: int, help_text: str, label: str | None = None
) -> forms.IntegerField:
    return forms.IntegerField(
        required=False, min_value=low, max_value=high, help_text=help_text, label=label
    )


class TrainingRunForm(forms.Form):
    name = forms.SlugField(
        max_length=100, help_text="The model's name; each run of it adds a version."
    )
    corpora = forms.ModelMultipleChoiceField(
        queryset=Corpus.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    tokenizer = forms.ModelChoiceField(queryset=TokenizerRun.objects.none())
    preset = forms.ChoiceField(
        choices=[(k, f"{k}: {p.description}") for k, p in PRESETS.items()], initial="tiny"
    )
    n_layer = _optional_int(1, 96, "Transformer blocks. Blank: the preset's.", "Layers")
    n_head = _optional_int(1, 64, "Must split the width into even-sized heads.", "Heads")
    d_model = _optional_int(8, 8192, "Width of the residual stream (d_model).", "Width")
    context = _optional_int(8, 8192, "Tokens the model attends over.")
    dropout = forms.FloatField(required=False, min_value=0, max_value=0.9)
    batch_size = _optional_int(1, 4096, "Sequences per micro-batch.")
    lr = forms.FloatField(required=False, min_value=1e-6, max_value=1.0, label="Learning rate")
    max_steps = _optional_int(1, 10_000_000, "Stop after this many optimizer steps.")
    max_minutes = forms.FloatField(required=False, min_value=0.05, max_value=7 * 24 * 60,
                                   help_text="Stop after this much wall-clock time.")  # fmt: skip
    eval_every = _optional_int(
        1, 1_000_000, "Steps between evaluations, samples and checkpoints. Blank: ten per run."
    )
    device = forms.ChoiceField(choices=[(d, d) for d in DEVICES], initial="auto")
    devices = forms.IntegerField(
        required=False, initial=1, min_value=1, max_value=1024, label="Devices",
        help_text="Processes training one model: GPUs, or CPU processes on a worker without "
        "GPUs. The batch is per device. Blank: 1.",
    )  # fmt: skip
    seed = forms.IntegerField(initial=1337, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ready = Corpus.objects.for_user(user).filter(status=CorpusStatus.READY)
        self.fields["corpora"].queryset = ready
        self.fields["tokenizer"].queryset = TokenizerRun.objects.for_user(user).usable()
        self.configs: tuple[GPTConfig, TrainConfig] | None = None
        self.preset_defaults = {  # shown as placeholders: blank fields take these
            name: {**p.model, **p.train} for name, p in PRESETS.items()
        }

    def clean_devices(self) -> int:
        wanted, most = self.cleaned_data["devices"] or 1, capacity.max_devices()
        if wanted > most:
            raise forms.ValidationError(
                f"{wanted} devices requested, but the largest training worker has at most "
                f"{most} (BOTTEGA_TRAIN_DEVICES, or its GPUs or CPU cores)"
            )
        return wanted

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors or not data.get("tokenizer"):
            return data
        model = {k: data.get(k) for k in MODEL_FIELDS}
        train = {k: data.get(k) for k in TRAIN_FIELDS}
        if data.get("max_minutes") is not None:
            train["max_seconds"] = data["max_minutes"] * 60
        try:
            vocab = data["tokenizer"].result["vocab_size"]
            self.configs = configs_from_preset(data["preset"], vocab, model, **train)
        except LmcoreError as exc:
            message = str(exc)
            field = next((f for word, f in FIELD_WORDS if word in message), None)
            self.add_error(field, message)
        return data

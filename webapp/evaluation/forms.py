"""The evaluation form (versions × tasks) and the task file upload form."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings

from lmcore.errors import LmcoreError
from lmcore.taskfiles import check_task
from webapp.corpora.models import Corpus
from webapp.evaluation.models import EvalTask
from webapp.limits import policy, storage
from webapp.playground.access import playable_versions

HARNESS_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


class EvaluationForm(forms.Form):
    name = forms.CharField(max_length=200, initial="evaluation")
    versions = forms.ModelMultipleChoiceField(
        queryset=None, widget=forms.CheckboxSelectMultiple,
        help_text="Versions you may use: yours, imported ones, and those shared with everyone.",
    )  # fmt: skip
    harness_tasks = forms.CharField(
        required=False, label="Harness tasks", widget=forms.TextInput(
            attrs={"placeholder": "hellaswag arc_easy piqa lambada_openai"}),
        help_text="lm-evaluation-harness task names, separated by spaces. Their datasets come "
                  "from the Hugging Face Hub (or its cache): an offline server says so.",
    )  # fmt: skip
    task_files = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Tasks you uploaded (Evaluate → Task files).",
    )  # fmt: skip
    cloze_corpora = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
        label="Held-out cloze on", help_text="Passages from each corpus's held-out last 10 %: "
        "the real continuation against 3 from elsewhere. Accuracy, chance is 25 %.",
    )  # fmt: skip
    cloze_items = forms.IntegerField(initial=1000, min_value=10, max_value=20_000,
                                     label="Cloze items")  # fmt: skip
    cloze_seed = forms.IntegerField(initial=0, min_value=0, max_value=2**31 - 1,
                                    label="Cloze seed", help_text="Same seed, same items.")  # fmt: skip
    bpb_corpora = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
        label="Bits per byte on", help_text="Each corpus's held-out last 10 % (lower is better).",
    )  # fmt: skip
    limit = forms.IntegerField(required=False, min_value=1, max_value=1_000_000,
                               label="Items per task", help_text="Blank: every item.")  # fmt: skip

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["versions"].queryset = playable_versions(user).select_related("owner")
        self.fields["task_files"].queryset = EvalTask.objects.for_user(user)
        corpora = Corpus.objects.for_user(user).text().ready()
        self.fields["cloze_corpora"].queryset = corpora
        self.fields["bpb_corpora"].queryset = corpora

    def clean_harness_tasks(self) -> list[str]:
        names = list(dict.fromkeys(self.cleaned_data["harness_tasks"].replace(",", " ").split()))
        bad = [n for n in names if not HARNESS_NAME.match(n)]
        if bad:
            raise forms.ValidationError(f"not a task name: {', '.join(bad)} (letters, digits, "
                                        "_ . -)")  # fmt: skip
        return names

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kinds = ("harness_tasks", "task_files", "cloze_corpora", "bpb_corpora")
        if not self.errors and not any(data.get(k) for k in kinds):
            self.add_error(None, "Choose at least one task: a harness task, a task file, a "
                           "cloze corpus or a bits-per-byte corpus.")  # fmt: skip
        if not self.errors:
            limits = policy.limits_for(self.user)
            problem = policy.jobs_problem(self.user, limits)
            if problem := problem or storage.launch_problem(self.user, limits):
                self.add_error(None, problem)
        return data


class TaskFileForm(forms.Form):
    task_yaml = forms.FileField(label="Task YAML", help_text="lm-evaluation-harness's format: "
                                "task, output_type, doc_to_text, doc_to_choice, doc_to_target, "
                                "metric_list. No !function: uploaded tasks run no code.")  # fmt: skip
    items = forms.FileField(label="Items (JSONL)", help_text="One JSON object per line; the "
                            "templates read its fields.")  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        cap = settings.EVAL_TASK_MAX_BYTES
        for field in ("task_yaml", "items"):
            if data[field].size > cap:
                self.add_error(field, f"{data[field].size:,} bytes: at most {cap:,}")
        if self.errors:
            return data
        try:
            text = data["task_yaml"].read().decode("utf-8")
        except UnicodeDecodeError:
            self.add_error("task_yaml", "not UTF-8 text")
            return data
        self.items_file, self._copied = _to_disk(data["items"])
        try:
            data["config"], data["count"] = check_task(
                text, self.items_file, yaml_name=data["task_yaml"].name,
                jsonl_name=data["items"].name,
            )  # fmt: skip
        except LmcoreError as exc:
            self.add_error(None, str(exc))
        return data

    def cleanup(self) -> None:
        """Remove the copy made of an items file Django held in memory."""
        if getattr(self, "_copied", False):
            self.items_file.unlink(missing_ok=True)


def _to_disk(upload: Any) -> tuple[Path, bool]:
    """The uploaded file's path: Django's temporary file, or a copy (True) of one in memory."""
    if hasattr(upload, "temporary_file_path"):
        return Path(upload.temporary_file_path()), False
    with tempfile.NamedTemporaryFile(delete=False, suffix=".jsonl") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return Path(out.name), True

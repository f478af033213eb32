"""`{% limits_summary "training" %}`: the signed-in user's limits, above a launch form."""

from __future__ import annotations

from typing import Any

from django import template

from webapp.limits import policy, storage

register = template.Library()

SHOWN = {  # which limits concern which form
    "training": ("jobs", "params", "minutes", "devices"),
    "finetune": ("jobs", "params", "minutes"),
    "tokenizer": ("jobs",),
    "evaluation": ("jobs",),
}


@register.inclusion_tag("limits/_summary.html", takes_context=True)
def limits_summary(context: Any, form: str = "training") -> dict[str, Any]:
    user = context["request"].user
    limits = policy.limits_for(user)
    shown = SHOWN[form]
    parts = []
    if "jobs" in shown and limits.jobs is not None:
        in_use = policy.jobs_in_use(user)
        parts.append(f"{policy.plural(limits.jobs, 'concurrent job')} ({in_use} in use)")
    if "params" in shown and limits.params is not None:
        parts.append(f"{policy.format_params(limits.params)} parameters")
    if "minutes" in shown and limits.minutes is not None:
        parts.append(f"{policy.format_minutes(limits.minutes)} of training per run")
    if "devices" in shown and limits.devices is not None:
        parts.append(f"{policy.plural(limits.devices, 'device')} per run")
    return {
        "staff": user.is_staff,
        "parts": parts,
        "used_bytes": storage.used_bytes(user),
        "quota_bytes": limits.storage_bytes,
    }

"""Models page: versions by name with their metrics, compare, promote/roll back, download."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from lmcore.adapters import peft_files
from lmcore.errors import LmcoreError
from lmcore.gguf_export import plan_gguf, write_gguf
from lmcore.hf_export import file_on_disk, iter_zip, zip_stream
from webapp.evaluation.leaderboard import against_parent
from webapp.limits import storage
from webapp.limits.policy import limits_for
from webapp.registry.actions import set_merge_state
from webapp.registry.models import ModelVersion, VersionStatus
from webapp.registry.uploads import download_scratch
from webapp.web.access import access
from webapp.web.backpressure import in_thread, written_file
from webapp.web.enqueue import enqueue

MERGE_STALE_S = 600


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    versions = ModelVersion.objects.for_user(request.user).select_related("owner", "run")
    status = request.GET.get("status", "")
    if status in VersionStatus.values:
        versions = versions.filter(status=status)
    compare_ids = [int(i) for i in request.GET.getlist("compare") if i.isdigit()]
    compared = [v for v in versions if v.pk in compare_ids]
    context = {"versions": versions, "compared": compared, "status": status,
               "statuses": VersionStatus.choices}  # fmt: skip
    return render(request, "registry/index.html", context)


@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = access(request.user, ModelVersion, pk)
    siblings = ModelVersion.objects.for_user(request.user).filter(
        owner=version.owner, name=version.name
    )
    rows = against_parent(request.user, version)  # its figures against its parent's
    context = {"version": version, "siblings": siblings, "evaluation_rows": rows,
               "merge_pending": merge_pending(version)}  # fmt: skip
    return render(request, "registry/detail.html", context)


@staff_member_required
@require_POST
def promote(request: HttpRequest, pk: int) -> HttpResponse:
    version = access(request.user, ModelVersion, pk)
    version.promote()
    messages.success(request, f"{version} is now in production.")
    return redirect(version)


@staff_member_required
@require_POST
def archive(request: HttpRequest, pk: int) -> HttpResponse:
    version = access(request.user, ModelVersion, pk)
    version.archive()
    messages.success(request, f"{version} is archived.")
    return redirect(version)


@require_GET
def download(request: HttpRequest, pk: int) -> HttpResponse:
    """The version as a zip: safetensors weights, config.json, tokenizer.json (no pickle),
    streamed as it is made (an imported model may be several GB)."""
    version = access(request.user, ModelVersion, pk)
    missing = [name for name in version.kept_files if not (version.directory / name).is_file()]
    if missing:  # said now, not as a zip cut short
        messages.error(request, f"{version} cannot be downloaded: {', '.join(missing)} "
                       f"{'is' if len(missing) == 1 else 'are'} missing from the server's storage "
                       "(moved or deleted outside Bottega). An administrator can restore the files "
                       "from a backup; otherwise delete this version.")  # fmt: skip
        return redirect(version)
    folder = f"{version.name}-v{version.version}"
    files = [file_on_disk(version.directory / name) for name in version.kept_files]
    return _zip_response(zip_stream(files, folder), folder)


@require_GET
def download_peft(request: HttpRequest, pk: int) -> HttpResponse:
    """A LoRA version's adapter as `peft` loads it (lmcore/adapters.py), onto its base's
    "Download for transformers"."""
    version = access(request.user, ModelVersion, pk)
    folder = f"{version.name}-v{version.version}-peft"
    try:
        files = peft_files(version.directory)
    except LmcoreError as exc:
        messages.error(request, f"{version} has no PEFT adapter: {exc}")
        return redirect(version)
    return _zip_response(zip_stream(files, folder), folder)


@require_POST
def merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Fold a LoRA version's adapter into its base: a new, plain version (a cpu task)."""
    version = access(request.user, ModelVersion, pk)  # its owner's, or staff's
    if not version.is_lora:
        messages.error(request, f"{version} is not a LoRA adapter: there is nothing to merge.")
    elif (
        merge_pending(version)
        or ModelVersion.objects.filter(metrics__merged_from=version.pk).exists()
    ):
        messages.error(request, f"{version} is already merged, or being merged.")
    elif problem := _merge_storage_problem(request.user, version):
        messages.error(request, problem)
    else:
        set_merge_state(version, {"status": "queued", "at": time.time()})
        enqueue("workers.registry.merge_lora_version", version.pk)
        messages.success(request, f"Merging {version}: the plain version appears below in a "
                         "few seconds (reload the page).")  # fmt: skip
    return redirect(version)


def _merge_storage_problem(user: Any, version: ModelVersion) -> str | None:
    """A merge writes a full copy of its base's weights: refused when that would not fit the
    quota (it is no job: one per adapter, seconds of CPU; docs/architecture.md, "Per-user
    limits")."""
    weights = version.base.directory / "model.safetensors"
    size = weights.stat().st_size if weights.is_file() else 0
    return storage.launch_problem(user, limits_for(user), size)


@require_GET
def download_hf(request: HttpRequest, pk: int) -> HttpResponse:
    """The version as a `transformers` directory in a zip (lmcore/hf_export.py), streamed as
    it is made: the web process holds about a MiB of it at a time, whatever the model's size."""
    version = access(request.user, ModelVersion, pk)
    folder = f"{version.name}-v{version.version}-hf"
    try:
        chunks = iter_zip(version.directory, folder)
    except LmcoreError as exc:
        messages.error(request, f"{version} cannot be exported for transformers: {exc}")
        return redirect(version)
    return _zip_response(chunks, folder)


@require_GET
def download_gguf(request: HttpRequest, pk: int) -> HttpResponse:
    """The version as one GGUF file, `?type=F16` or `Q8_0` (lmcore/gguf_export.py): checked
    first, then written to a temp file a tensor at a time in a worker thread and streamed."""
    version = access(request.user, ModelVersion, pk)
    qtype, name = request.GET.get("type", "F16").upper(), f"{version.name}-v{version.version}"
    try:
        plan = plan_gguf(version.directory, qtype, name)
    except LmcoreError as exc:
        messages.error(request, f"{version} cannot be exported as GGUF: {exc}")
        return redirect(version)
    body = written_file(functools.partial(write_gguf, plan), download_scratch())
    response = StreamingHttpResponse(body, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{name}.{qtype}.gguf"'
    return response


def merge_pending(version: ModelVersion) -> bool:
    """A merge was asked for less than MERGE_STALE_S ago and has not ended (an older request
    whose worker never ran it may be asked again)."""
    state = version.metrics.get("merge") or {}
    return state.get("status") == "queued" and time.time() - state.get("at", 0) < MERGE_STALE_S


def _zip_response(chunks: Iterator[bytes], folder: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(in_thread(chunks), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{folder}.zip"'
    return response

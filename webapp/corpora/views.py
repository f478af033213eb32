"""Corpus pages: the list (with the upload area), a corpus's page, and their live fragments."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from webapp.corpora import display
from webapp.corpora.actions import do_rename_corpus
from webapp.corpora.datasets import chosen_tokenizer, dataset_context
from webapp.corpora.forms import RenameForm
from webapp.corpora.models import Corpus, CorpusKind, CorpusStatus
from webapp.limits import storage
from webapp.limits.policy import limits_for
from webapp.web.access import access


def _limits(user) -> dict:
    return {
        "max_upload_bytes": settings.CORPUS_MAX_UPLOAD_BYTES,
        "quota_bytes": limits_for(user).storage_bytes,
        "used_bytes": storage.used_bytes(user),
        "chunk_bytes": settings.CORPUS_CHUNK_BYTES,
    }


def _detail_context(corpus: Corpus, form: RenameForm | None = None, tokenizer=None) -> dict:
    context = {"corpus": corpus, "form": form or RenameForm(initial={"name": corpus.name}),
               "missing_file": corpus.missing_file}  # fmt: skip
    if context["missing_file"]:
        return context  # the page says what is missing and what to do, and reads nothing
    if corpus.status == CorpusStatus.READY and corpus.is_conversations:
        context.update(dataset_context(corpus, tokenizer))
    elif corpus.status == CorpusStatus.READY:
        context["stat_rows"] = display.stat_rows(corpus.stats, corpus.sha256)
        context["characters"] = display.character_table(corpus.stats)
        context["excerpts"] = display.excerpts(corpus.path, corpus.size_bytes)
    return context


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    corpora = Corpus.objects.for_user(request.user).text()
    context = {"corpora": corpora, "limits": _limits(request.user), "kind": CorpusKind.TEXT}
    return render(request, "corpora/index.html", context)


@require_GET
def conversations(request: HttpRequest) -> HttpResponse:
    """Conversation datasets: uploaded like corpora, one conversation per JSONL line."""
    datasets = Corpus.objects.for_user(request.user).conversations()
    context = {"corpora": datasets, "limits": _limits(request.user),
               "kind": CorpusKind.CONVERSATIONS}  # fmt: skip
    return render(request, "corpora/index.html", context)


@require_GET
def quota(request: HttpRequest) -> HttpResponse:
    """The storage line, re-fetched by the list page when an upload starts, ends or goes."""
    return render(request, "corpora/_quota.html", {"limits": _limits(request.user)})


@require_GET
def row(request: HttpRequest, pk: int) -> HttpResponse:
    corpus = access(request.user, Corpus, pk)
    return render(request, "corpora/_corpus_row.html", {"corpus": corpus})


@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    corpus = access(request.user, Corpus, pk)
    tokenizer = chosen_tokenizer(request) if corpus.is_conversations else None
    return render(request, "corpora/detail.html", _detail_context(corpus, tokenizer=tokenizer))


@require_GET
def detail_fragment(request: HttpRequest, pk: int) -> HttpResponse:
    corpus = access(request.user, Corpus, pk)
    return render(request, "corpora/_detail_fragment.html", _detail_context(corpus))


@require_POST
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    corpus = access(request.user, Corpus, pk)
    form = RenameForm(request.POST)
    if not form.is_valid():
        return render(request, "corpora/detail.html", _detail_context(corpus, form), status=400)
    do_rename_corpus(corpus, form.cleaned_data["name"])
    messages.success(request, f"Renamed to “{corpus.name}”.")
    return redirect(corpus)

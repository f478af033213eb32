from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    # The section's pages arrive with its issue; until then it says so plainly.
    return render(
        request,
        "section_pending.html",
        {
            "section": "Tokenizers",
            "blurb": "Train byte-level BPE tokenizers and inspect their vocabularies and merges.",
        },
    )

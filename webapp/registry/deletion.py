"""A version's and a model upload's part of deletion plans (webapp/deletion): their own, and
what becomes of versions when their base, parent, run or tokenizer is deleted. A version owns
copies of its weights and tokenizer, so only a LoRA version's base is needed by it."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from webapp.deletion.plans import Effect, Part, deletable, dependants, nothing
from webapp.jobs.models import Run
from webapp.registry.models import ModelUpload, ModelVersion, UploadStatus, VersionStatus


@deletable(ModelVersion)
class ModelVersionPart(Part[ModelVersion]):
    def effects(self, version: ModelVersion) -> Iterator[Effect]:
        if version.status == VersionStatus.PRODUCTION:
            yield Effect(
                f"it is the production version of “{version.name}”: the playground and the API's "
                f"“{version.name}” then mean its latest remaining version"
            )


@deletable(ModelUpload)
class ModelUploadPart(Part[ModelUpload]):
    def effects(self, upload: ModelUpload) -> Iterator[Effect]:
        if upload.status == UploadStatus.IMPORTING:
            yield Effect("refused: it is being imported; wait for the import to end", refuses=True)


@dependants(ModelVersion.base)  # RESTRICT: an adapter needs its base's weights
def _adapters(base: ModelVersion, adapters: QuerySet[ModelVersion]) -> Iterator[Effect]:
    for adapter in adapters:
        yield Effect(f"refused: LoRA version “{adapter}” stores only an adapter on this version's "
                     "weights: merge it into a plain version (Merge, on its page) or delete it "
                     "first", adapter.get_absolute_url(), refuses=True)  # fmt: skip


@dependants(ModelVersion.parent)  # SET_NULL
def _children(parent: ModelVersion, children: QuerySet[ModelVersion]) -> Iterator[Effect]:
    for child in children.filter(base__isnull=True):  # an adapter: said by `_adapters`
        kind = "chat version" if child.is_chat else "version"
        made = "merged" if child.metrics.get("merged_from") else "fine-tuned"
        yield Effect(f"{kind} “{child}”, {made} from it, keeps its own weights",
                     child.get_absolute_url())  # fmt: skip


@dependants(ModelVersion.run)  # SET_NULL
def _versions_of_a_run(run: Run, versions: QuerySet[ModelVersion]) -> Iterator[Effect]:
    for version in versions:
        yield Effect(f"version “{version}” stays: it has its own copy of the weights and tokenizer",
                     version.get_absolute_url())  # fmt: skip


@dependants(ModelVersion.tokenizer)  # SET_NULL
def _versions_of_a_tokenizer(tokenizer: Run, versions: QuerySet[ModelVersion]) -> Iterator[Effect]:
    for version in versions:
        yield Effect(f"version “{version}” keeps its own copy of the tokenizer: it still plays and "
                     "can still be fine-tuned", version.get_absolute_url())  # fmt: skip


dependants(ModelUpload.version)(nothing)  # an imported upload's row keeps its history

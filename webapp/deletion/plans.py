"""The deletion plan: what deleting one row does, said by the apps whose rows it touches.

Each app says its part next to its models, in its own `deletion.py` (read at start-up by
webapp/deletion/apps.py):

- `@deletable(Model)` on a `Part`: what the pages call one, what deleting it does to itself
  (a job in flight is cancelled first; an import in progress refuses), how it is stopped first
  and how its row goes;
- `@dependants(Model.relation, ...)` on a function: what becomes of the rows that point at the
  deleted object through that relation, as its `on_delete` has it (a training run RESTRICTs its
  tokenizer: refused; a version SET_NULLs its run: it stays), and a refusal where they cannot
  lose it now (a queued or running job that reads it).

`plan_for(obj)` composes them, looked up by class: the object's own part, then what each app
says of every relation that points at its model. Every relation into a deletable model is said
by some app (tests/webapp/deletion/test_parts.py), so a new or renamed one cannot go unnoticed.
docs/architecture.md, "Deletion".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.conf import settings
from django.db.models import Model

from webapp.web.files import FileOwner, path_bytes

if TYPE_CHECKING:
    from django.db.models import Field, QuerySet

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Effect:
    """One line of the confirmation page: a dependant and what happens to it."""

    text: str
    url: str = ""
    refuses: bool = False  # the deletion cannot happen while this holds


@dataclass
class Plan:
    obj: Model
    kind: str  # "training run": what the pages call it
    effects: list[Effect] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.obj)

    @property
    def refusals(self) -> list[Effect]:
        return [e for e in self.effects if e.refuses]

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @cached_property
    def files(self) -> list[tuple[str, int]]:
        """(path under MEDIA_ROOT, bytes) of each file or directory that exists now."""
        return [(_shown(p), path_bytes(p)) for p in self.paths if p.exists()]

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.files)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(settings.MEDIA_ROOT))
    except ValueError:
        return str(path)


class Part(Generic[M]):
    """A deletable model's own part of its plans; its app overrides what differs."""

    def kind(self, obj: M) -> str:
        """What the pages call it: a file owner's noun (webapp/web/files.py)."""
        return obj.noun  # type: ignore[attr-defined]

    def effects(self, obj: M) -> Iterable[Effect]:
        """What deleting it does to itself, and its own refusals."""
        return ()

    def stop(self, obj: M) -> None:
        """Before the deletion, outside its transaction (a job: its usual cancel)."""

    def defer(self, obj: M) -> bool:
        """Under the row lock: True when it must go later instead (a job still stopping),
        having marked it so."""
        return False

    def delete_row(self, obj: M) -> None:
        obj.delete()


# (the deleted object, then the rows of each relation) -> what becomes of them
Said = Callable[..., Iterable[Effect]]

PARTS: dict[type[Model], Part] = {}
DEPENDANTS: dict[type[Model], dict[tuple[Field, ...], Said]] = {}


def deletable(model: type[M]) -> Callable[[type[Part[M]]], type[Part[M]]]:
    """Class decorator: the part of `model`'s own rows in their plans."""

    def register(part: type[Part[M]]) -> type[Part[M]]:
        PARTS[model] = part()
        return part

    return register


def dependants(*relations: Any) -> Callable[[Said], Said]:
    """Decorator: what becomes of the rows that point at a deleted object through `relations`
    (descriptors, `TrainingRun.corpora`, all to one model), called with the object and the
    rows of each relation."""
    fields = tuple(relation.field for relation in relations)
    (target,) = {f.related_model for f in fields}

    def register(say: Said) -> Said:
        DEPENDANTS.setdefault(target, {})[fields] = say
        return say

    return register


def nothing(obj: Model, *rows: QuerySet) -> Iterable[Effect]:
    """What is said of a relation that another line speaks for."""
    return ()


def part_of(model: type[Model]) -> Part:
    try:
        return PARTS[model]
    except KeyError:
        raise LookupError(f"{model.__name__} is not deletable: no app says its part") from None


def plan_for(obj: Model) -> Plan:
    """What deleting `obj` does, read now: its files, its dependants' fates, its refusals."""
    part = part_of(type(obj))
    paths = obj.owned_paths() if isinstance(obj, FileOwner) else []
    plan = Plan(obj, part.kind(obj), paths=paths)
    plan.effects.extend(part.effects(obj))
    for fields, say in DEPENDANTS.get(type(obj), {}).items():
        rows = [f.model._default_manager.filter(**{f.name: obj}) for f in fields]
        plan.effects.extend(say(obj, *rows))
    return plan

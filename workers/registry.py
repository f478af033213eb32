"""Model version tasks (cpu queue): a staff user's uploaded zip becomes a model version; a LoRA
version is merged into a plain one."""

from __future__ import annotations

import logging

from celery import shared_task

from lmcore.errors import LmcoreError

logger = logging.getLogger(__name__)


@shared_task(name="workers.registry.import_model_upload")
def import_model_upload(upload_id: int) -> str:
    """Import upload `upload_id` (webapp/registry/uploads.py); its row says how it went."""
    from webapp.registry.uploads import do_import_upload

    upload = do_import_upload(upload_id)
    return upload.status if upload is not None else "gone"


@shared_task(name="workers.registry.sweep_abandoned_model_uploads")
def sweep_abandoned_model_uploads() -> dict[str, int]:
    """Beat task: reject model uploads idle too long, delete downloads' leftover files."""
    from webapp.registry.uploads import do_sweep_model_uploads

    return do_sweep_model_uploads()


@shared_task(name="workers.registry.merge_lora_version")
def merge_lora_version(version_id: int) -> str:
    """Merge LoRA version `version_id` into a new plain version; its `metrics["merge"]` says
    how it went (the version's page shows it)."""
    from webapp.registry.actions import do_merge_version, set_merge_state
    from webapp.registry.models import ModelVersion

    version = ModelVersion.objects.filter(pk=version_id, base__isnull=False).first()
    if version is None:
        return "gone"
    try:
        return str(do_merge_version(version))
    except LmcoreError as exc:
        return f"failed: {exc}"
    except Exception as exc:
        logger.exception("merging version %s failed", version_id)
        set_merge_state(
            version, {"status": "failed", "error": f"internal error ({type(exc).__name__})"}
        )
        return "failed"

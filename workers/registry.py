"""Model import task (cpu queue): a staff user's uploaded zip becomes a model version."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="workers.registry.import_model_upload")
def import_model_upload(upload_id: int) -> str:
    """Import upload `upload_id` (webapp/registry/uploads.py); its row says how it went."""
    from webapp.registry.uploads import do_import_upload

    upload = do_import_upload(upload_id)
    return upload.status if upload is not None else "gone"

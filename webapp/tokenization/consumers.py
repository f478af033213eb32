"""`/ws/tokenizers/<id>/`: the run's state first, then each `run.status` as it changes."""

from webapp.jobs.consumers import RunConsumer
from webapp.tokenization.models import TokenizerRun


class TokenizerRunConsumer(RunConsumer):
    model = TokenizerRun

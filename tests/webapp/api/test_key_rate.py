"""A key's own rate (`ApiKey.requests_per_minute`): blank (None) is the server's default, as
the admin's help text says; 0 is refused with the reason, and where one is stored anyway it
is not read as the default."""

import pytest
from django.core.exceptions import ValidationError

from webapp.api.models import ApiKey
from webapp.playground.inference import Inference, Refused

pytestmark = pytest.mark.django_db


def test_a_rate_of_zero_is_refused_and_blank_is_the_default(alice):
    key, _ = ApiKey.issue(alice, "harness")
    key.requests_per_minute = 0
    with pytest.raises(ValidationError) as refused:
        key.full_clean()
    assert refused.value.message_dict["requests_per_minute"] == [
        "At least 1 request a minute. Leave it blank for the server's default; revoke the key "
        "to stop it."
    ]
    key.requests_per_minute = None
    key.full_clean()


async def test_only_none_falls_back_to_the_default(settings):
    settings.PLAYGROUND_REQUESTS_PER_MINUTE = 30
    zero, default = Inference(987_001, per_minute=0), Inference(987_002, per_minute=None)
    with pytest.raises(Refused, match="at most 0 requests a minute"):
        await zero.charge()
    await default.charge()  # 1 of 30
    for inference in (zero, default):
        await inference.close()

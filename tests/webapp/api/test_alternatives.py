"""Alternatives (`top_logprobs`) carry their token's real bytes and never merge: the tiny
model's vocabulary holds every lone byte, and lone bytes >= 0x80 are cut UTF-8 characters,
which all read U+FFFD as text. Keyed by that text, legacy dicts lost alternatives (4 keys for
logprobs=5) and chat alternatives' `bytes` were U+FFFD's, not the token's."""

import pytest

from webapp.api.shapes import token_string

pytestmark = pytest.mark.django_db(transaction=True)
TEXT = "the mouse ate the cheese, perché naïve città 日本 🙂 and the cat"


def _table(version) -> set[bytes]:
    from lmcore.tokenizer import Tokenizer

    return set(Tokenizer.load(version.directory).bytes_table())


def _cut(alternative: str) -> bool:
    return alternative.startswith("bytes:")  # not valid UTF-8 alone


def test_legacy_alternatives_are_never_merged(alice_api, version):
    echoed = alice_api.completions.create(model="tiny", prompt=TEXT, max_tokens=0, echo=True,
                                          logprobs=5)  # fmt: skip
    generated = alice_api.completions.create(model="tiny", prompt=TEXT, max_tokens=30,
                                             logprobs=5, seed=3)  # fmt: skip
    tops = [t for t in echoed.choices[0].logprobs.top_logprobs if t is not None]
    tops += generated.choices[0].logprobs.top_logprobs
    assert tops and all(len(top) == 5 for top in tops)
    # The case the text keys merged: two cut characters among one position's five.
    assert any(sum(_cut(key) for key in top) >= 2 for top in tops)


@pytest.fixture
def chat_version(alice, tiny_checkpoint):
    from tests.webapp.api.conftest import make_version

    return make_version(alice, tiny_checkpoint, name="chatty", is_chat=True)


def test_chat_alternatives_carry_their_tokens_bytes(alice_api, chat_version):
    answer = alice_api.chat.completions.create(
        model="chatty", messages=[{"role": "user", "content": TEXT}], max_completion_tokens=30,
        seed=5, logprobs=True, top_logprobs=10,
    )  # fmt: skip
    table = _table(chat_version)
    alternatives = [a for e in answer.choices[0].logprobs.content for a in e.top_logprobs]
    assert len(alternatives) == 10 * answer.usage.completion_tokens
    for alt in alternatives:
        assert bytes(alt.bytes) in table and alt.token == token_string(bytes(alt.bytes).hex())
    assert any(_cut(alt.token) for alt in alternatives)  # the case that read U+FFFD


def test_two_tokens_with_equal_bytes_keep_two_keys():
    from webapp.api.shapes import legacy_top

    same = [{"id": 0, "bytes": "3c7c3e", "logprob": -1.0}, {"id": 7, "bytes": "3c7c3e", "logprob": -2.0},
            {"id": 9, "bytes": "e2", "logprob": -3.0}]  # fmt: skip
    assert legacy_top(same) == {"<|>": -1.0, "<|>#7": -2.0, "bytes:\\xe2": -3.0}

"""The rewrite chat and the reading of a small model's answers: crafted answers with the noise
SmolLM2-135M adds (quotes, markdown, extra lines, placeholders, run-on titles)."""

import pytest

from model_export.copy.checks import AdText, Limits, filter_variants
from model_export.copy.prompt import (
    EXAMPLES,
    format_ad,
    parse_variant,
    rewrite_messages,
    training_messages,
)

AD = AdText(
    "Velvik trail running shoes",
    "Limited-time deal: 50% off. Rated 4.8 out of 5 by our users. From $89.90.",
)


def test_messages_end_with_the_ad_after_the_examples() -> None:
    messages = rewrite_messages(AD)
    assert [m["role"] for m in messages] == [
        "system", *["user", "assistant"] * len(EXAMPLES), "user"
    ]  # fmt: skip
    assert messages[-1]["content"].endswith(format_ad(AD))
    system = messages[0]["content"]
    for word in ("brand", "price", "discount", "every number", "no new claim", "60", "90"):
        assert word in system.lower()


def test_messages_state_the_given_limits() -> None:
    system = rewrite_messages(AD, Limits(title=30, description=70))[0]["content"]
    assert "30 characters" in system and "70 characters" in system


def test_examples_are_faithful_rewrites() -> None:
    """The worked examples obey the checks the variants face; an example that dropped a fact
    would teach the model to drop facts."""
    for original, rewrite in EXAMPLES:
        assert filter_variants(original, [rewrite], is_unsafe=lambda _: False).kept == [rewrite]


def test_training_messages_answer_with_the_rewrite() -> None:
    rewrite = AdText("Velvik trail shoes: 50% off", "Rated 4.8 out of 5. From $89.90.")
    messages = training_messages(AD, rewrite)
    assert messages[:-1] == rewrite_messages(AD, examples=())  # a tuned model needs no examples
    assert messages[-1] == {"role": "assistant", "content": format_ad(rewrite)}
    assert training_messages(AD, rewrite, examples=EXAMPLES)[:-1] == rewrite_messages(AD)


def test_messages_without_examples_are_rules_then_the_ad() -> None:
    messages = rewrite_messages(AD, examples=())
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages == [rewrite_messages(AD)[0], rewrite_messages(AD)[-1]]


def test_format_round_trips() -> None:
    assert parse_variant(format_ad(AD)) == AD


@pytest.mark.parametrize(
    "answer",
    [
        'Title: "Velvik shoes, 50% off"\nDescription: "Rated 4.8 out of 5. From $89.90."',
        "**Title:** Velvik shoes, 50% off\n**Description:** Rated 4.8 out of 5. From $89.90.",
        "Sure! Here is a rewrite:\n\ntitle: Velvik shoes, 50% off\n"
        "description: Rated 4.8 out of 5. From $89.90.\n\nTitle: another one\nDescription: x",
        "Headline: Velvik shoes, 50% off\nDescription: “Rated 4.8 out of 5. From $89.90.”  ",
        "Title: Velvik shoes, 50% off. Rated 4.8 out of 5. From $89.90.",
    ],
)
def test_noisy_answers_parse(answer: str) -> None:
    assert parse_variant(answer) == AdText(
        "Velvik shoes, 50% off", "Rated 4.8 out of 5. From $89.90."
    )


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "I cannot rewrite this ad.",
        "Title: Velvik shoes",  # no description, one sentence
        "Description: Rated 4.8 out of 5.",  # no title
        "Title: ...\nDescription: ...",  # the format echoed back
        "Title: <new title>\nDescription: <new description>",
        "Title:\nDescription: Rated 4.8 out of 5.",
    ],
)
def test_unusable_answers_are_none(answer: str) -> None:
    assert parse_variant(answer) is None

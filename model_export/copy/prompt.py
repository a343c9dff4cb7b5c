"""The chat that asks a small instruction model for one rewrite of an ad, and the reading of its
answer. Pure: no model, no tokenizer.

The model (SmolLM2-135M-Instruct) follows a worked example much better than a list of rules,
so the chat holds the rules, two example rewrites (invented brands that no catalog uses, so a
leak of one is caught by the checks as a new brand; two examples parse about twice as often as
one on the shipped model) and then the ad. The answer is
``Title: …`` then ``Description: …``; the generator opens the assistant's turn with
``ANSWER_PREFIX`` so the model starts inside that format instead of chatting first.
``parse_variant`` reads an answer leniently, since a 135M model adds quotes, markdown stars,
echoes of the placeholders and extra lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from model_export.copy.checks import DEFAULT_LIMITS, AdText, Limits

Message = dict[str, str]
ANSWER_PREFIX = "Title:"

SYSTEM = (
    "You are an ad copywriter. You rewrite an ad so it reads fresh but says exactly the same "
    "thing. Keep the brand, the product, the price, the discount and every number exactly as "
    "written. Add no new claim, number, brand or promise. The title has at most {title} "
    "characters and the description at most {description} characters. Answer with two lines "
    "and nothing else:\nTitle: <new title>\nDescription: <new description>"
)
Example = tuple[AdText, AdText]  # (ad, its rewrite)
EXAMPLES: tuple[Example, ...] = (
    (
        AdText(
            "Shop the Tarnby wireless earbuds",
            "Free shipping on every order. Fast, simple and hassle-free. From $49.99.",
        ),
        AdText(
            "Tarnby wireless earbuds, ready to go",
            "Fast, simple, hassle-free sound. Free shipping on every order. From $49.99.",
        ),
    ),
    (
        AdText(
            "The new standing desk from Quelmark",
            "30% off your first order. Designed with care, built to last. From $349.00.",
        ),
        AdText(
            "Quelmark standing desk: new and built to last",
            "Designed with care. 30% off your first order. From $349.00.",
        ),
    ),
)

_FIELD = re.compile(r"^\s*(?P<name>title|headline|description)\s*:\s*(?P<value>.*)$", re.I)
_NOISE = re.compile(r"[*_#`]+")
_QUOTES = "\"'“”‘’«»"
_PLACEHOLDER = re.compile(r"^[\s.…<>]*(?:new (?:title|description))?[\s.…<>]*$", re.I)


def format_ad(ad: AdText) -> str:
    """An ad as the two lines the model reads and writes."""
    return f"Title: {ad.title}\nDescription: {ad.description}"


def _request(ad: AdText) -> str:
    return f"Rewrite this ad.\n{format_ad(ad)}"


def rewrite_messages(
    ad: AdText, limits: Limits = DEFAULT_LIMITS, examples: Sequence[Example] = EXAMPLES
) -> list[Message]:
    """The chat asking for one rewrite of ``ad``: rules, the worked ``examples``, the ad. The
    generator samples several answers to the same chat to get several variants. A fine-tuned
    generator is prompted without examples (``examples=()``): it has learnt the answer's form,
    and the chat is then half as long, which halves a training step and the prompt's encoding."""
    system = SYSTEM.format(title=limits.title, description=limits.description)
    messages = [{"role": "system", "content": system}]
    for example, rewrite in examples:
        messages.append({"role": "user", "content": _request(example)})
        messages.append({"role": "assistant", "content": format_ad(rewrite)})
    return [*messages, {"role": "user", "content": _request(ad)}]


def training_messages(
    ad: AdText, rewrite: AdText, limits: Limits = DEFAULT_LIMITS, examples: Sequence[Example] = ()
) -> list[Message]:
    """The chat (without worked examples by default, as a fine-tuned generator is prompted) with
    the wanted answer as the assistant's turn: a fine-tuning example."""
    answer = {"role": "assistant", "content": format_ad(rewrite)}
    return [*rewrite_messages(ad, limits, examples), answer]


def _clean(value: str) -> str:
    """A field's text without markdown marks, outer quotes and spaces."""
    value = _NOISE.sub("", value).strip()
    while len(value) >= 2 and value[0] in _QUOTES and value[-1] in _QUOTES:
        value = value[1:-1].strip()
    return value.strip(_QUOTES + " ").strip()


def _fields(text: str) -> dict[str, str]:
    """The first title and the first description of an answer (``Headline`` counts as title);
    lines that are neither are ignored, later repeats too (the model sometimes goes on with a
    second ad)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _FIELD.match(_NOISE.sub("", line))
        if m is None:
            continue
        name = "title" if m["name"].lower() == "headline" else m["name"].lower()
        found.setdefault(name, _clean(m["value"]))
    return found


def _split_run_on(title: str) -> tuple[str, str]:
    """A title line that holds the whole ad ("Velvik shoes, 50% off. Rated 4.8 out of 5. From
    $89.90.", the shipped model's commonest slip) split after its first sentence; the checks read
    title and description together, so the facts survive the split, and the length limits judge
    the result."""
    head, sep, rest = title.partition(". ")
    return (head, rest.strip()) if sep and rest.strip() else (title, "")


def parse_variant(text: str) -> AdText | None:
    """The rewrite an answer holds, or None when it has no usable title or description (missing,
    empty, or the prompt's placeholder echoed back). A title line with no description line is
    split after its first sentence (``_split_run_on``)."""
    found = _fields(text)
    title, description = found.get("title", ""), found.get("description", "")
    if title and "description" not in found:
        title, description = _split_run_on(title)
    if not title or not description:
        return None
    if _PLACEHOLDER.match(title) or _PLACEHOLDER.match(description):
        return None
    return AdText(title, description)

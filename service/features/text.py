"""How ads and behaviour items become the text the encoder reads."""

import re
from dataclasses import dataclass

MAX_TEXT_CHARS = 1000
_SPACES = re.compile(r"\s+")


def clean_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Collapse whitespace and cut overly long text (the tokenizer truncates further)."""
    return _SPACES.sub(" ", text).strip()[:max_chars]


def ad_text(title: str, description: str = "", category: str = "") -> str:
    """The encoder input for an ad: ``category: title. description``, empty parts left out."""
    head = clean_text(title)
    if category:
        head = f"{clean_text(category)}: {head}"
    body = clean_text(description)
    if not body:
        return head
    return f"{head}. {body}" if not head.endswith((".", "!", "?")) else f"{head} {body}"


def item_text(text: str) -> str:
    """The encoder input for a behaviour item (the title of what the user clicked or viewed)."""
    return clean_text(text)


@dataclass(frozen=True)
class AdText:
    """What an ad says (empty strings where a part is missing), and its price if it has one
    (``service.features.price``: a number the model reads beside the text)."""

    title: str
    description: str = ""
    category: str = ""
    price: float | None = None

    def encoder_input(self) -> str:
        return ad_text(self.title, self.description, self.category)

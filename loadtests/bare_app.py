"""The framework ceiling: a bare FastAPI ``async def`` endpoint that parses the same /rank
payload with the same pydantic model and answers a small JSON, nothing else."""

from fastapi import FastAPI

from service.rank.protocol import RankRequest


def create_bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/rank")
    async def rank(req: RankRequest) -> dict[str, object]:
        return {"user_id": req.user_id, "n": len(req.candidates)}

    return app

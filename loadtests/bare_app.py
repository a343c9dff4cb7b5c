"""The framework ceiling: a bare FastAPI ``async def`` endpoint that parses the same /rank
payload with a pydantic model (FastAPI's own way) and answers a small JSON, nothing else."""

from fastapi import FastAPI
from pydantic import BaseModel, Field


class Candidate(BaseModel):
    ad_id: str = Field(min_length=1)
    bid: float | None = Field(default=None, ge=0)
    title: str | None = None
    description: str | None = None
    category: str | None = None


class RankRequest(BaseModel):
    """The fields of service.rank.protocol.RankRequest, as FastAPI users write them."""

    user_id: str = Field(min_length=1)
    request_id: str | None = None
    context: dict[str, str | int | float | bool | None] = {}
    candidates: list[Candidate] = Field(min_length=1)
    top_k: int | None = None
    timeout_ms: float | None = None
    explain: bool = False


def create_bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/rank")
    async def rank(req: RankRequest) -> dict[str, object]:
        return {"user_id": req.user_id, "n": len(req.candidates)}

    return app

"""A fleet of ad servers calling adrank, with open-loop (Poisson) arrivals.

    locust -f loadtests/locustfile.py --headless -u 1 -r 1 --run-time 2m \\
        --host http://127.0.0.1:8000 --rate 50 --events-rate 5 --csv reports/locust/run

Each locust user is a scheduler, not a client waiting on its answers: it draws exponential
gaps for ``--rate / -u`` requests per second and fires every ``POST /rank`` in its own
greenlet, so a slow server meets a growing queue as it would in production (a closed loop
would slow down with the server and hide it). Latency counts from the scheduled send time.
Beside it, a stream of ``POST /events`` (``--events-rate``). At the test's start the master
(or local runner) seeds the catalog (``PUT /ads``) and users' histories (``POST /events``)
through the service's API; ``--skip-seed`` skips that for a service that has them already.

Requests: a Zipf-popular user, 50–500 candidates with bids, ``--unseen-share`` of them new
ads sent with their text, a context and a deadline. The server's per-stage timings
(``metrics.*_ms``, ``batch_size``) are recorded as ``STAGE`` entries. Any non-200 answer
(a 503 shed included), a degraded answer or a short ranking is a failure, and any failure
makes locust exit 1.
"""

import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import gevent
import numpy as np
import orjson
from gevent.pool import Group
from locust import FastHttpUser, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.runners import WorkerRunner

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # run from anywhere: ``loadtests`` is not an installed package
    sys.path.insert(0, ROOT)

from loadtests.traffic import (  # noqa: E402
    STAGES,
    TrafficConfig,
    World,
    build_world,
    events_request,
    rank_problem,
    rank_request,
    seed_batches,
)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    d = TrafficConfig()
    add = parser.add_argument
    add("--rate", type=float, default=20.0, help="POST /rank per second over all users (Poisson)")
    add("--events-rate", type=float, default=2.0, help="POST /events per second (Poisson)")
    add("--seed-ads", type=int, default=d.ads, help="catalog ads the service knows")
    add("--seed-users", type=int, default=d.users, help="users with a behaviour history")
    add("--events-per-user", type=int, default=d.events_per_user, help="seeded history length")
    add("--unseen-share", type=float, default=d.unseen_share, help="new ads among candidates")
    add("--min-candidates", type=int, default=d.min_candidates)
    add("--max-candidates", type=int, default=d.max_candidates)
    add("--deadline-ms", type=float, default=d.deadline_ms, help="timeout_ms of each /rank")
    add("--zipf-s", type=float, default=d.zipf_s, help="skew of users' popularity")
    add("--traffic-seed", type=int, default=0, help="seed of the synthetic catalog and users")
    add("--skip-seed", action="store_true", help="do not seed the catalog and histories")
    add("--api-key", default="", help="sent as X-API-Key when given")
    add("--max-in-flight", type=int, default=2000, help="beyond this, a send is a failure")


def traffic_config(options: Any) -> TrafficConfig:
    return TrafficConfig(
        ads=options.seed_ads, users=options.seed_users, events_per_user=options.events_per_user,
        unseen_share=options.unseen_share, min_candidates=options.min_candidates,
        max_candidates=options.max_candidates, deadline_ms=options.deadline_ms,
        zipf_s=options.zipf_s,
    )  # fmt: skip


@lru_cache(maxsize=1)
def world_of(config: TrafficConfig, seed: int) -> World:
    return build_world(config, seed)


def headers(options: Any) -> dict[str, str]:
    out = {"Content-Type": "application/json"}
    if options.api_key:
        out["X-API-Key"] = options.api_key
    return out


@events.test_start.add_listener
def _seed(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or options is None or options.skip_seed:
        return
    world = world_of(traffic_config(options), options.traffic_seed)
    ads, histories = seed_batches(world)
    session = FastHttpSession(environment.host or "", environment.events.request, None,
                              network_timeout=120.0)  # fmt: skip
    started = time.perf_counter()
    for method, path, bodies in (("PUT", "/ads", ads), ("POST", "/events", histories)):
        for body in bodies:
            data = orjson.dumps(body).decode()
            session.request(method, path, data=data, headers=headers(options),
                            name=f"seed {method} {path}")  # fmt: skip
    print(f"seeded {len(world.ads)} ads and {len(world.users)} users' histories "
          f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)  # fmt: skip


@events.quitting.add_listener
def _fail_on_any_error(environment: Environment, **_kwargs: Any) -> None:
    if environment.stats.total.num_failures > 0:
        environment.process_exit_code = 1


def record_stages(environment: Environment, metrics: dict[str, Any]) -> None:
    """The server's own timings of one request, as locust entries of type STAGE."""
    for stage in STAGES:
        environment.events.request.fire(
            request_type="STAGE", name=stage, response_time=float(metrics[stage]),
            response_length=0, exception=None, context={},
        )  # fmt: skip


class AdServerFleet(FastHttpUser):
    """One open-loop scheduler of /rank and /events traffic (see the module docstring)."""

    concurrency = 512  # connections of this user's pool: requests do not wait on each other
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.options = options
        self.world = world_of(traffic_config(options), options.traffic_seed)
        self.rng = np.random.default_rng()
        self.headers = headers(options)
        self.flights = Group()
        self.sent = 0

    def on_stop(self) -> None:
        self.flights.kill(block=False)

    @task
    def schedule(self) -> None:
        users = max(1, self.options.num_users or 1)
        stream = gevent.spawn(self._arrivals, self.options.events_rate / users, self._events)
        try:
            self._arrivals(self.options.rate / users, self._rank)
        finally:
            stream.kill(block=False)

    def _arrivals(self, rate: float, send: Any) -> None:
        """Poisson arrivals at ``rate``; each send runs in its own greenlet, at once."""
        while rate <= 0:  # this stream is off
            gevent.sleep(60)
        due = time.perf_counter()
        while True:
            due += float(self.rng.exponential(1.0 / rate))
            gevent.sleep(max(0.0, due - time.perf_counter()))
            if len(self.flights) >= self.options.max_in_flight:
                self._client_overloaded()
                continue
            self.flights.spawn(send, due)

    def _client_overloaded(self) -> None:
        self.environment.events.request.fire(
            request_type="POST", name="/rank", response_time=0.0, response_length=0,
            exception=RuntimeError("too many requests in flight"), context={},
        )  # fmt: skip

    def _rank(self, due: float) -> None:
        self.sent += 1
        body = rank_request(self.rng, self.world, f"lt-{id(self):x}-{self.sent}")
        n = len(body["candidates"])
        with self.client.post("/rank", data=orjson.dumps(body).decode(), headers=self.headers,
                              catch_response=True) as resp:  # fmt: skip
            resp.request_meta["response_time"] = (time.perf_counter() - due) * 1000
            answer = _json(resp.content)
            problem = rank_problem(resp.status_code or 0, answer, n)
            if problem:
                resp.failure(problem)
                return
            resp.success()
        record_stages(self.environment, answer["metrics"])  # type: ignore[index]

    def _events(self, due: float) -> None:
        body = events_request(self.rng, self.world, time.time())
        with self.client.post("/events", data=orjson.dumps(body).decode(), headers=self.headers,
                              catch_response=True) as resp:  # fmt: skip
            resp.request_meta["response_time"] = (time.perf_counter() - due) * 1000
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")


def _json(content: bytes | None) -> object:
    try:
        return orjson.loads(content or b"")
    except orjson.JSONDecodeError:
        return None

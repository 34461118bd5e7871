"""The demo's served experiment: the loop closed through a real server process on 127.0.0.1.

After training and the simulated A/B test, the demo deploys the champion (arm ``control``) against the
challenger (arm ``treatment``), 50/50 as experiment ``ranker-served``, with a third version scored in the
shadow, and starts ``python -m loopline.serving`` on a free loopback port. It then simulates
``days`` more days of the same feed: the simulator's experiment has the same name (the salt), arms and
weights as the deployment, and each arm's policy sends every session of a replayed user to ``/v1/rank``
(the unit id, the user's features as context, the candidates' features inline) and takes the returned
order as the feed. The simulator's ground truth (examination by position, engagement) decides the clicks
and likes, which are posted to ``/v1/feedback`` in batches of sessions. Then the server is stopped
(SIGTERM: it writes its buffered exposures) and the experiment is analysed from the server's own log.

Two logs stay apart from the simulated one (``events/``), so neither analysis mixes with the other:
``served-events/`` is the server's (exposures with ``served``, assignments, the posted feedback) and
``served-simulation/`` the simulator's record of the same days (its request ids, and the truth).
The demo refuses to go on when the server and the simulator disagree on a unit's arm or on a feed.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from loopline import _atomic
from loopline._errors import ServingError
from loopline._progress import SILENT, Progress
from loopline.events import EventLog, assign
from loopline.experiments import ExperimentSpec
from loopline.loop._demo_workspace import clear_demo_folders, require_demo_workspace
from loopline.loop._experiment import ExperimentOutcome, analyze_experiment, experiment_spec_path
from loopline.registry import Registry
from loopline.serving import DeploymentSpec, ServeSettings, deploy
from loopline.simulate import FeedSimulator, SimConfig, SimExperiment
from loopline.workspace import ENV_EVENTS, ENV_WORKSPACE, Workspace

DEPLOYMENT = "feed"
EXPERIMENT = "ranker-served"
SERVED_EVENTS = "served-events"
"""The server's event log inside the demo's workspace."""
SERVED_SIMULATION = "served-simulation"
"""The simulator's own record of the served days (its request ids, the truth) inside the demo's workspace."""
SERVER_LOG = "served-server.log"
DEFAULT_SERVED_USERS = 5000
"""About this many users are replayed through the server (the default feed has 5,000: all of them), some
5,000 sessions a simulated day, about 25 s through the server on a 2-core machine."""
FEEDBACK_SESSIONS = 50
"""Sessions whose clicks and likes go in one ``POST /v1/feedback``."""
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
USER_COLUMNS = ("country", "device", "age_bucket", "user_top_topic", "user_activity")
"""Features of the user, the same for every candidate of a session: sent once, as the request's context."""


@dataclass(frozen=True)
class ServedDemo:
    """The served experiment: its analysis from the server's log, and what the client saw."""

    deployment: str
    versions: dict[str, int]
    """Arm -> the model version it served (control first)."""
    shadow: int
    """The version scored in the shadow of every request, never served."""
    events_root: Path
    spec_path: Path
    outcome: ExperimentOutcome
    units: int
    """Replayed users with at least one session in the served days."""
    requests: int
    """``POST /v1/rank`` calls, one per replayed session."""
    feedback_events: int
    feedback_requests: int
    latency_p50_ms: float
    latency_p99_ms: float
    """Round trips of ``/v1/rank`` as the client measured them (JSON encoding and decoding included)."""
    seconds: float
    truth: dict[str, Any]
    """Per arm the replayed impressions and their true click-through rate (``arms``), and each treatment's true
    relative effect on it (``effects[arm]["ctr_relative"]``)."""


def run_served_demo(workspace: Workspace, *, config: SimConfig, model_name: str, arms: dict[str, int], shadow: int,
                    days: int = 1, users: int | None = DEFAULT_SERVED_USERS, name: str = EXPERIMENT,
                    deployment: str = DEPLOYMENT, progress: Progress = SILENT) -> ServedDemo:
    """Serve ``arms`` (arm -> version, control first, equal weights) and ``shadow`` from a real server for ``days``
    simulated days after ``config``'s, replaying about ``users`` users (None: all), and analyse the served log.
    """
    require_demo_workspace(workspace)
    if days < 1:
        raise ServingError(f"served days must be at least 1, got {days}; pass served_days=0 to skip serving.")
    started = time.perf_counter()
    served_log = EventLog(workspace.root / SERVED_EVENTS)
    sim_log = EventLog(workspace.root / SERVED_SIMULATION)
    clear_demo_folders(workspace, [served_log.root, sim_log.root])
    weights = {arm: 1.0 / len(arms) for arm in arms}
    spec = DeploymentSpec.from_dict({
        "name": deployment, "model": model_name, "experiment": name, "shadows": [shadow],
        "arms": {arm: {"version": version, "weight": weights[arm]} for arm, version in arms.items()},
    }, source="the demo's deployment")
    deploy(Registry(workspace), spec, actor="loopline demo", reason="the demo's served A/B test")

    server = _start(workspace, model=model_name, deployment=deployment, events=served_log.root,
                    log_top=config.feed_length, progress=progress)
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            replay = _Replay(client, experiment=name, features=_features(client), progress=progress,
                             share=1.0 if users is None else min(1.0, users / config.n_users))
            experiment = SimExperiment(name=name, arms=weights, start_day=config.days,
                                       policies={arm: replay.policy(arm) for arm in arms},
                                       model_versions={arm: str(v) for arm, v in arms.items()},
                                       counterfactual=False)  # the policies ask the server: no extra requests
            sim = FeedSimulator(dataclasses.replace(config, days=config.days + days, experiment=experiment))
            result = sim.run(sim_log)
            replay.check()
            start = config.start + timedelta(days=config.days)
            feedback = sim_log.read("feedback", start=start, columns=["request_id", "unit_id", "item_id", "event"])
            posted, batches = replay.post_feedback(feedback)
    finally:
        code = _stop(server)
    if code not in (0, -signal.SIGTERM):  # uvicorn re-raises the SIGTERM it handled once it has shut down
        raise ServingError(f"the demo's server did not shut down cleanly on SIGTERM (exit code {code}), so its "
                           f"exposure log may be incomplete; see {server.output}.")
    shown = sim_log.read("exposures", start=start, columns=["request_id", "item_id", "position"])
    replay.check_feeds(shown)
    truth = replay.truth(pd.read_parquet(result.truth_path, columns=["request_id", "true_p"]), tuple(arms))

    experiment_spec = ExperimentSpec.from_dict({
        "name": name, "control": next(iter(arms)), "arms": weights, "primary": "ctr", "deployment": deployment,
        "guardrails": [{"metric": "clicks_per_user", "margin": 0.02, "relative": True}],
    })
    spec_path = experiment_spec_path(workspace, name)
    header = (f"# Written by 'loopline demo'. Its data is the server's log; analyse with:\n"
              f"# {ENV_EVENTS}={served_log.root} loopline experiment analyze {name} --workspace {workspace.root} "
              f"--model {model_name}\n")
    _atomic.write_text(spec_path, header + yaml.safe_dump(experiment_spec.model_dump(mode="json", exclude_none=True),
                                                          sort_keys=False))
    effect = truth["effects"].get(list(arms)[-1], {}).get("ctr_relative")
    facts = {"served by": f"a loopline server on 127.0.0.1 (deployment {deployment}, shadow v{shadow})",
             "true relative effect on CTR (simulator, replayed sessions)":
                 "n/a" if effect is None else f"{effect:+.2%}"}
    outcome = analyze_experiment(workspace, experiment_spec, model_name=model_name, facts=facts, log=served_log)
    latency = np.asarray(replay.latency_ms) if replay.latency_ms else np.zeros(1)
    return ServedDemo(deployment=deployment, versions=dict(arms), shadow=shadow, events_root=served_log.root,
                      spec_path=spec_path, outcome=outcome, units=len(set(replay.unit_of.values())),
                      requests=len(replay.latency_ms), feedback_events=posted, feedback_requests=batches,
                      latency_p50_ms=float(np.percentile(latency, 50)),
                      latency_p99_ms=float(np.percentile(latency, 99)),
                      seconds=time.perf_counter() - started, truth=truth)


# -- the replay: the simulator's policies call the server ------------------------------------------------------

class _Replay:
    """Arm policies for the simulator that rank replayed sessions through ``/v1/rank``, and what they saw."""

    def __init__(self, client: httpx.Client, *, experiment: str, features: tuple[str, ...], share: float,
                 progress: Progress = SILENT) -> None:
        self.client = client
        self.experiment = experiment
        self.context = tuple(f for f in features if f in USER_COLUMNS)
        self.item = tuple(f for f in features if f not in USER_COLUMNS and f != "item_id")
        self.share = share
        self.progress = progress
        self.request_of: dict[str, str] = {}  # simulator request id -> server request id
        self.arm_of: dict[str, str] = {}  # simulator request id -> the arm the simulator ranked it for
        self.unit_of: dict[str, str] = {}
        self.feed_of: dict[str, list[str]] = {}  # simulator request id -> the server's order of item ids
        self.latency_ms: list[float] = []
        self.disagreements: list[str] = []

    def policy(self, arm: str) -> Callable[[pd.DataFrame], np.ndarray]:
        def rank(candidates: pd.DataFrame) -> np.ndarray:
            return self._rank(arm, candidates)

        return rank

    def _replayed(self, units: np.ndarray) -> np.ndarray:
        """Which units go through the server: a share of users, by a hash of their id (the same every day)."""
        if self.share >= 1.0:
            return np.ones(len(units), dtype=bool)
        split = assign(f"{self.experiment}:replay", units, {"served": self.share, "simulated": 1.0 - self.share})
        return np.asarray(split == "served")

    def _rank(self, arm: str, frame: pd.DataFrame) -> np.ndarray:
        """Scores whose order is the server's for replayed sessions (0 elsewhere: the candidates' own order)."""
        requests = frame["request_id"].to_numpy()
        starts = np.flatnonzero(np.r_[True, requests[1:] != requests[:-1]]) if len(frame) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(frame)].astype(np.int64)
        units = frame["unit_id"].to_numpy()[starts]
        replayed = np.flatnonzero(self._replayed(units))
        scores = np.zeros(len(frame))
        item_ids = frame["item_id"].tolist()
        context = {c: frame[c].tolist() for c in self.context}
        columns = {c: frame[c].tolist() for c in self.item}
        day = str(frame["ts"].iloc[0].date()) if len(frame) else ""
        self.progress.start(f"serving {arm} sessions of {day} through the server", total=len(replayed))
        try:
            for s in replayed.tolist():
                lo, hi = int(starts[s]), int(ends[s])
                first: dict[str, int] = {}
                for i in range(lo, hi):
                    first.setdefault(item_ids[i], i)  # a post drawn twice is sent once
                body = {"unit_id": str(units[s]), "context": {c: v[lo] for c, v in context.items()},
                        "items": [{"item_id": item, **{c: v[i] for c, v in columns.items()}}
                                  for item, i in first.items()]}
                answer = self._post("/v1/rank", body)
                sim_request, order = str(requests[lo]), [str(item["item_id"]) for item in answer["items"]]
                scores[lo:hi] = -np.inf
                scores[[first[item] for item in order]] = np.arange(len(order), 0, -1)
                if answer["arm"] != arm or answer["experiment"] != self.experiment:
                    self.disagreements.append(f"unit {units[s]}: the simulator ranked it for arm {arm!r} of "
                                              f"{self.experiment!r}, the server served arm {answer['arm']!r} of "
                                              f"{answer['experiment']!r}")
                self.request_of[sim_request] = str(answer["request_id"])
                self.arm_of[sim_request], self.unit_of[sim_request] = arm, str(units[s])
                self.feed_of[sim_request] = order
                self.progress.advance()
        finally:
            self.progress.finish()
        return scores

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        t0 = time.perf_counter()
        response = self.client.post(path, json=body)
        if path == "/v1/rank":
            self.latency_ms.append((time.perf_counter() - t0) * 1000.0)
        if response.status_code != 200:
            raise ServingError(f"the demo's server answered {path} with {response.status_code}: "
                               f"{response.text[:500]}")
        return response.json()

    def check(self) -> None:
        """Refuse to go on when the server and the simulator (both ``events.assign``, the experiment's name as
        salt, the same weights) put a unit in different arms."""
        if self.disagreements:
            raise ServingError(f"the server and the simulator disagree on {len(self.disagreements)} session(s) of "
                               f"experiment {self.experiment!r}, e.g. {self.disagreements[0]}. The deployment and "
                               "the simulated experiment must have the same name, arms and weights.")
        if not self.request_of:
            raise ServingError("no session was replayed through the server; raise the number of served users.")

    def check_feeds(self, shown: pd.DataFrame) -> None:
        """Every replayed session showed the server's top items, in the server's order."""
        shown = shown[shown["request_id"].isin(self.request_of)].sort_values(["request_id", "position"])
        for request, items in shown.groupby("request_id", sort=False)["item_id"]:
            feed = self.feed_of[str(request)]
            if list(items) != feed[:len(items)]:
                raise ServingError(f"session {request}: the simulator showed {list(items)}, but the server ranked "
                                   f"{feed[:len(items)]} first; the replay must show the server's order.")

    def post_feedback(self, feedback: pd.DataFrame) -> tuple[int, int]:
        """POST the replayed sessions' clicks and likes, ``FEEDBACK_SESSIONS`` sessions a request.

        Returns (events stored, requests made)."""
        mine = feedback[feedback["request_id"].isin(self.request_of)]
        sessions = list(dict.fromkeys(mine["request_id"].tolist()))
        by_session = {r: group for r, group in mine.groupby("request_id", sort=False)}
        events = requests = 0
        self.progress.start("posting clicks and likes to /v1/feedback", total=len(sessions))
        try:
            for lo in range(0, len(sessions), FEEDBACK_SESSIONS):
                batch = [{"request_id": self.request_of[r], "unit_id": str(u), "item_id": str(i), "event": str(e)}
                         for r in sessions[lo:lo + FEEDBACK_SESSIONS]
                         for u, i, e in by_session[r][["unit_id", "item_id", "event"]].itertuples(index=False)]
                stored = int(self._post("/v1/feedback", {"events": batch})["stored"])
                if stored != len(batch):
                    raise ServingError(f"/v1/feedback stored {stored} of {len(batch)} events.")
                events, requests = events + stored, requests + 1
                self.progress.advance(min(FEEDBACK_SESSIONS, len(sessions) - lo))
        finally:
            self.progress.finish()
        return events, requests

    def truth(self, truth: pd.DataFrame, arms: tuple[str, ...]) -> dict[str, Any]:
        """The true click-through rate of each arm's replayed impressions, and each treatment's relative effect
        on it (``effects[arm]["ctr_relative"]``, as in the simulator's own experiment truth)."""
        mine = truth[truth["request_id"].isin(self.request_of)]
        found: dict[str, dict[str, Any]] = {}
        for arm, rows in mine.groupby(mine["request_id"].map(self.arm_of), sort=False)["true_p"]:
            found[str(arm)] = {"impressions": len(rows), "expected_ctr": float(rows.mean())}
        control = found.get(arms[0], {}).get("expected_ctr")
        effects = {arm: {"ctr_relative": found[arm]["expected_ctr"] / control - 1.0}
                   for arm in arms[1:] if arm in found and control}
        return {"arms": found, "effects": effects}


def _features(client: httpx.Client) -> tuple[str, ...]:
    """Every feature of every model the server loaded (arms and shadows), in first-seen order."""
    response = client.get("/v1/models")
    if response.status_code != 200:
        raise ServingError(f"the demo's server answered /v1/models with {response.status_code}: {response.text[:500]}")
    return tuple(dict.fromkeys(f for model in response.json() for f in model["features"]))


# -- the server process ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Server:
    process: subprocess.Popen[bytes]
    url: str
    output: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(workspace: Workspace, *, model: str, deployment: str, events: Path, log_top: int,
           progress: Progress) -> _Server:
    """``python -m loopline.serving`` on a free loopback port, serving ``deployment``, its event log at
    ``events``; returned once ``/v1/ready`` answers (a port taken in between is retried)."""
    # The demo's own workspace, whatever LOOPLINE_* the caller has set (see _demo_workspace).
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env.update({ENV_WORKSPACE: str(workspace.root), ENV_EVENTS: str(events),
                "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
                **ServeSettings(deployment=deployment, log_top=log_top).to_env()})
    output = workspace.root / SERVER_LOG
    progress.start("starting the server on 127.0.0.1")
    try:
        for _ in range(3):
            port = _free_port()
            with output.open("ab") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "loopline.serving", "--workspace", str(workspace.root),
                     "--model", model, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                    env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
            server = _Server(process, f"http://127.0.0.1:{port}", output)
            if _wait_ready(server):
                return server
            if "address already in use" not in output.read_text(encoding="utf-8", errors="replace").lower():
                break
    finally:
        progress.finish()
    tail = output.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise ServingError(f"the demo's server did not become ready within {START_TIMEOUT_S:.0f} s (see {output}):\n"
                       f"{tail}")


def _wait_ready(server: _Server) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if httpx.get(f"{server.url}/v1/ready", timeout=2.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    _stop(server)
    return False


def _stop(server: _Server) -> int:
    """SIGTERM (the server finishes requests and writes its buffered exposures), SIGKILL if it hangs."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        return -int(signal.SIGKILL)

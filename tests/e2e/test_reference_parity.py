"""Side by side with the real Mesos 1.11 agent: same requests, same answers.

The reference runs inside the master started by ../shared/tools/mesos-master
(MESOS_NUM_SLAVES=1, posix launcher). Where mesos_py differs on purpose the
README says why, and the test asserts the documented difference.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import pytest

from tests.agent import AgentProcess, Reply
from tests.reference import TOOL, ReferenceAgent, available

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture(scope="module")
def reference() -> Iterator[ReferenceAgent]:
    if not available():
        pytest.skip(f"the reference Mesos agent tool is not at {TOOL}")
    reference = ReferenceAgent()
    reference.start()
    yield reference
    reference.stop()


def both(agent: AgentProcess, reference: ReferenceAgent, call: Any,
         headers: dict[str, str] = JSON) -> tuple[Reply, Reply]:
    body = call if isinstance(call, bytes) else json.dumps(call).encode()
    return (agent.request("POST", "/api/v1", body, headers),
            reference.request("POST", "/api/v1", body, headers))


def waiting(agent: AgentProcess, reference: ReferenceAgent,
            call: dict[str, Any]) -> Callable[[], tuple[Reply, Reply]]:
    """Sends `call` to both agents from threads (long polls); the result
    joins them once both have been sent and have answered."""
    body = json.dumps(call).encode()
    replies: dict[str, Reply] = {}
    threads = [threading.Thread(target=lambda: replies.__setitem__(
                   "ours", agent.request("POST", "/api/v1", body, JSON))),
               threading.Thread(target=lambda: replies.__setitem__(
                   "theirs", reference.request("POST", "/api/v1", body, JSON)))]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # both requests reach their agents before anything ends

    def join() -> tuple[Reply, Reply]:
        for thread in threads:
            thread.join(timeout=60)
        return replies["ours"], replies["theirs"]

    return join


BAD_REQUESTS = [
    b"{}",
    b"[]",
    b'{"type":"LAUNCH_CONTAINER"}',
    b'{"type":"LAUNCH_CONTAINER","launch_container":{"command":{}}}',
    b'{"type":"WAIT_CONTAINER","wait_container":{"container_id":{"value":""}}}',
    b'{"type":"WAIT_CONTAINER","wait_container":{"container_id":{"value":"a.b"}}}',
    b'{"type":"KILL_CONTAINER","kill_container":{"container_id":{"value":"a b"}}}',
    b'{"type":"REMOVE_CONTAINER","remove_container":{"container_id":{"value":"."}}}',
    b'{"type":"WAIT_CONTAINER","wait_container":{"container_id":{"value":5}}}',
    b'{"type":"LAUNCH_CONTAINER","launch_container":{"container_id":{"value":"x"},'
    b'"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":-1}}]}}',
    b'{"type":"LAUNCH_CONTAINER","launch_container":{"container_id":{"value":"x"},'
    b'"resources":[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":5,"end":1}]}}]}}',
    b'{"type":"LAUNCH_CONTAINER","launch_container":{"container_id":{"value":"x"},'
    b'"command":{"value":"true","environment":{"variables":[{"name":"A"}]}}}}',
    b'{"type":"LAUNCH_CONTAINER","launch_container":{"container_id":{"value":"x"},'
    b'"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1},'
    b'"reservations":[{"type":"STATIC","role":"r"}]}]}}',
]


@pytest.mark.parametrize("body", BAD_REQUESTS, ids=lambda b: b.decode()[:60])
def test_bad_requests_answer_like_mesos(agent: AgentProcess, reference: ReferenceAgent,
                                        body: bytes) -> None:
    ours, theirs = both(agent, reference, body)
    assert (ours.status, ours.text) == (theirs.status, theirs.text)


def test_unparseable_json_answers_like_mesos(agent: AgentProcess, reference: ReferenceAgent) -> None:
    ours, theirs = both(agent, reference, b"not json")
    # The rest of Mesos's text is its JSON parser's own wording.
    prefix = "Failed to parse body into JSON: "
    assert ours.status == theirs.status == 400
    assert ours.text.startswith(prefix) and theirs.text.startswith(prefix)


@pytest.mark.parametrize("headers", [
    {"Content-Type": "text/plain", "Accept": "application/json"},
    {"Content-Type": "application/json", "Accept": "text/html"},
    {"Content-Type": "application/x-protobuf", "Accept": "application/json"},
])
def test_media_type_errors_answer_like_mesos(agent: AgentProcess, reference: ReferenceAgent,
                                             headers: dict[str, str]) -> None:
    ours, theirs = both(agent, reference, b"\x08\x01garbage", headers)
    assert (ours.status, ours.text) == (theirs.status, theirs.text)


def test_wrong_method_answers_like_mesos(agent: AgentProcess, reference: ReferenceAgent) -> None:
    ours = agent.request("GET", "/api/v1", b"", {})
    theirs = reference.request("GET", "/api/v1", b"", {})
    assert (ours.status, ours.text, ours.headers["allow"]) == \
        (theirs.status, theirs.text, theirs.headers["allow"])


def test_health_and_unknown_containers(agent: AgentProcess, reference: ReferenceAgent) -> None:
    for call in ({"type": "GET_HEALTH"},
                 {"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": "no"}}},
                 {"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": "no"}}}):
        ours, theirs = both(agent, reference, call)
        assert (ours.status, ours.text) == (theirs.status, theirs.text)


def test_unsupported_image_answers_like_mesos(agent: AgentProcess, reference: ReferenceAgent) -> None:
    name = f"img-{uuid.uuid4().hex[:8]}"
    call = {"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": name}, "command": {"value": "true"},
        "container": {"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
                                                            "docker": {"name": "alpine"}}}}}}
    ours, theirs = both(agent, reference, call)
    assert (ours.status, ours.text) == (theirs.status, theirs.text) == \
        (400, "Unsupported container image type: DOCKER")


def test_lifecycle_answers_like_mesos(agent: AgentProcess, reference: ReferenceAgent,
                                      tmp_path) -> None:
    name = f"life-{uuid.uuid4().hex[:8]}"
    ready = tmp_path / name
    launch = {"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": name},
        "command": {"value": f"echo >> {ready}; exec sleep 100"}}}
    wait = {"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": name}}}
    kill = {"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": name},
                                                         "signal": 15}}
    for step in (launch, launch):  # 200, then 202 for the id in use
        ours, theirs = both(agent, reference, step)
        assert (ours.status, ours.body) == (theirs.status, theirs.body)
    # Signal only once both commands run: Mesos's launch helper loses a
    # signal that arrives before it forwards signals to the command.
    deadline = time.monotonic() + 20
    while not (ready.exists() and ready.read_text().count("\n") == 2):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # Both waits are in flight before the kill: the reference forgets a
    # container once it has ended.
    waits = waiting(agent, reference, wait)
    ours, theirs = both(agent, reference, kill)
    assert (ours.status, ours.body) == (theirs.status, theirs.body) == (200, b"")
    ours, theirs = waits()
    assert ours.json() == theirs.json() == {"type": "WAIT_CONTAINER",
                                            "wait_container": {"exit_status": 15}}
    # Documented difference: Mesos forgets an ended top-level container at once;
    # mesos_py keeps its termination until REMOVE_CONTAINER.
    time.sleep(0.2)
    ours, theirs = both(agent, reference, wait)
    assert theirs.status == 404
    assert ours.status == 200 and ours.json()["wait_container"]["exit_status"] == 15


def test_exit_statuses_match(agent: AgentProcess, reference: ReferenceAgent, tmp_path) -> None:
    for command, expected in (("exit 3", 768), ("kill -9 $$", 9), ("true", 0)):
        name = f"exit-{uuid.uuid4().hex[:8]}"
        go = tmp_path / name
        gated = f"while [ ! -e {go} ]; do sleep 0.01; done; {command}"
        launch = {"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": name}, "command": {"value": gated}}}
        wait = {"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": name}}}
        ours, theirs = both(agent, reference, launch)
        assert ours.status == theirs.status == 200
        # Both waits are in flight before the containers end (the reference
        # forgets a container once it has ended).
        waits = waiting(agent, reference, wait)
        go.touch()
        ours, theirs = waits()
        assert ours.json() == theirs.json() == {
            "type": "WAIT_CONTAINER", "wait_container": {"exit_status": expected}}


# ------------------------------------------------ agent state, files, metrics
@pytest.mark.parametrize("kind", ["GET_STATE", "GET_TASKS", "GET_EXECUTORS", "GET_FRAMEWORKS",
                                  "GET_LOGGING_LEVEL"])
def test_state_calls_of_an_idle_agent_answer_like_mesos(agent: AgentProcess,
                                                        reference: ReferenceAgent,
                                                        kind: str) -> None:
    ours, theirs = both(agent, reference, {"type": kind})
    assert (ours.status, ours.json()) == (theirs.status, theirs.json())


def test_get_agent_has_the_same_shape(agent: AgentProcess, reference: ReferenceAgent) -> None:
    ours, theirs = both(agent, reference, {"type": "GET_AGENT"})
    mine, reference_info = ours.json()["get_agent"]["agent_info"], \
        theirs.json()["get_agent"]["agent_info"]
    # Ours runs standalone (no id yet); the reference is registered.
    assert set(mine) == set(reference_info) - {"id"}
    assert [r["name"] for r in mine["resources"]] == \
        [r["name"] for r in reference_info["resources"]]


@pytest.mark.parametrize("query", ["/files/browse", "/files/browse?path=/nowhere",
                                   "/files/read", "/files/read?path=/nowhere&offset=0",
                                   "/files/read?path=/nowhere&offset=x",
                                   "/files/read?path=/nowhere&offset=-5",
                                   "/files/download?path=/nowhere", "/files/debug"])
def test_files_endpoints_answer_like_mesos(agent: AgentProcess, reference: ReferenceAgent,
                                          query: str) -> None:
    ours = agent.request("GET", query)
    theirs = _library(reference, query)
    assert ours.status == theirs.status, (query, ours.text, theirs.text)
    if ours.status == 400:
        assert ours.text == theirs.text
    if query == "/files/debug":
        assert ours.json() == {} and isinstance(theirs.json(), dict)


def _library(reference: ReferenceAgent, path: str) -> Reply:
    """A library route of the reference's process (not under /slave(1))."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", reference.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                     response.read())
    finally:
        connection.close()


def test_state_endpoint_has_mesos_fields(agent: AgentProcess, reference: ReferenceAgent) -> None:
    ours = agent.request("GET", "/state").json()
    theirs = reference.request("GET", "/state").json()
    # Fields of a build from git, and the master's hostname (ours is standalone).
    missing = set(theirs) - set(ours) - {"git_sha", "master_hostname"}
    assert missing == set(), missing
    assert ours["frameworks"] == theirs["frameworks"] == []
    assert ours["completed_frameworks"] == theirs["completed_frameworks"] == []
    assert set(ours["resources"]) == set(theirs["resources"])
    assert ours["unreserved_resources_full"][0].keys() == \
        theirs["unreserved_resources_full"][0].keys()
    assert agent.request("GET", "/monitor/statistics").json() == \
        reference.request("GET", "/monitor/statistics").json() == []


def test_metrics_have_mesos_agent_names(agent: AgentProcess, reference: ReferenceAgent) -> None:
    ours = agent.request("GET", "/metrics/snapshot").json()
    theirs = _library(reference, "/metrics/snapshot").json()
    wanted = {k for k in theirs if k.startswith(("slave/", "gc/", "system/"))
              or k == "containerizer/mesos/container_destroy_errors"}
    assert wanted - set(ours) == set()


def test_logging_level_calls_answer_like_mesos(agent: AgentProcess,
                                               reference: ReferenceAgent) -> None:
    raise_level = {"type": "SET_LOGGING_LEVEL",
                   "set_logging_level": {"level": 2, "duration": {"nanoseconds": 1_500_000_000}}}
    ours, theirs = both(agent, reference, raise_level)
    assert (ours.status, ours.body) == (theirs.status, theirs.body) == (200, b"")
    ours, theirs = both(agent, reference, {"type": "GET_LOGGING_LEVEL"})
    assert ours.json() == theirs.json() == {"type": "GET_LOGGING_LEVEL",
                                            "get_logging_level": {"level": 2}}
    time.sleep(2.5)
    ours, theirs = both(agent, reference, {"type": "GET_LOGGING_LEVEL"})
    assert ours.json() == theirs.json() == {"type": "GET_LOGGING_LEVEL",
                                            "get_logging_level": {"level": 0}}


@pytest.mark.parametrize("call", [
    {"type": "LIST_FILES", "list_files": {"path": "/nowhere"}},
    {"type": "READ_FILE", "read_file": {"path": "/nowhere", "offset": 0}},
    {"type": "READ_FILE", "read_file": {"path": "/nowhere"}},
    {"type": "GET_METRICS"},
    {"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": 1}},
])
def test_files_and_metrics_calls_fail_like_mesos(agent: AgentProcess, reference: ReferenceAgent,
                                                 call: dict[str, Any]) -> None:
    ours, theirs = both(agent, reference, call)
    assert (ours.status, ours.text) == (theirs.status, theirs.text)

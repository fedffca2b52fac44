"""The operator's view of a running task (real master, real agent, pymesos):
LIST_FILES, READ_FILE, /files/download, /files/debug, GET_METRICS, and the
logging level calls."""

from __future__ import annotations

import base64
import os
import stat
import urllib.parse
from typing import Any

import pytest

from tests.master import task, wait_for

CONTENT = "0123456789"
COMMAND = f"printf {CONTENT} > out.txt; mkdir sub; echo ready; exec sleep 1000"


@pytest.fixture
def running(master, make_agent, make_framework) -> Any:
    """An agent with task `t1` running; yields (agent, virtual sandbox path, real path)."""
    agent = make_agent([f"--master={master.address}"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master)
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, COMMAND)])
    framework.wait_state("t1", "TASK_RUNNING")
    fid = framework.framework_id
    runs = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks", fid, "executors",
                        "t1", "runs")
    real = os.path.realpath(os.path.join(runs, "latest"))
    wait_for(lambda: os.path.isdir(os.path.join(real, "sub")), what="the task's files")
    yield agent, f"/frameworks/{fid}/executors/t1/runs/latest", real
    framework.kill("t1")
    framework.wait_state("t1", "TASK_KILLED")


def get(agent: Any, endpoint: str, **query: Any) -> Any:
    return agent.request("GET", f"{endpoint}?{urllib.parse.urlencode(query)}")


def test_list_files_matches_browse(running) -> None:
    agent, sandbox, _ = running
    reply = agent.call({"type": "LIST_FILES", "list_files": {"path": sandbox}})
    assert reply.status == 200, reply.text
    infos = {i["path"]: i for i in reply.json()["list_files"]["file_infos"]}
    assert set(infos) >= {f"{sandbox}/out.txt", f"{sandbox}/stdout", f"{sandbox}/stderr",
                          f"{sandbox}/sub"}
    out = infos[f"{sandbox}/out.txt"]
    assert out["size"] == len(CONTENT)
    assert stat.S_ISREG(out["mode"]) and stat.S_ISDIR(infos[f"{sandbox}/sub"]["mode"])
    assert out["uid"] == "root" and out["mtime"]["nanoseconds"] > 0
    browsed = get(agent, "/files/browse", path=sandbox).json()
    assert {b["path"]: b["size"] for b in browsed} == {p: i.get("size", 0)
                                                       for p, i in infos.items()}
    assert [b["mode"] for b in browsed if b["path"].endswith("/sub")][0].startswith("d")


def test_list_files_errors_answer_like_mesos(running) -> None:
    agent, sandbox, _ = running
    # A file lists as nothing; an unknown path is 404 with an empty body.
    reply = agent.call({"type": "LIST_FILES", "list_files": {"path": f"{sandbox}/out.txt"}})
    assert (reply.status, reply.json()["list_files"]) == (200, {})
    assert get(agent, "/files/browse", path=f"{sandbox}/out.txt").json() == []
    reply = agent.call({"type": "LIST_FILES", "list_files": {"path": f"{sandbox}/nothing"}})
    assert (reply.status, reply.text) == (404, "")
    escape = agent.call({"type": "LIST_FILES", "list_files": {"path": f"{sandbox}/../../.."}})
    assert escape.status == 400 and "is inaccessible" in escape.text


def test_read_file_reads_ranges_and_refuses_directories(running) -> None:
    agent, sandbox, _ = running

    def read(path: str, **fields: Any) -> Any:
        return agent.call({"type": "READ_FILE", "read_file": {"path": path, **fields}})

    reply = read(f"{sandbox}/out.txt", offset=2, length=3)
    assert reply.status == 200, reply.text
    body = reply.json()["read_file"]
    assert body["size"] == len(CONTENT)
    assert base64.b64decode(body["data"]) == b"234"
    whole = read(f"{sandbox}/out.txt", offset=0).json()["read_file"]
    assert base64.b64decode(whole["data"]) == CONTENT.encode()
    past = read(f"{sandbox}/out.txt", offset=50).json()["read_file"]
    assert past["size"] == len(CONTENT) and base64.b64decode(past.get("data", "")) == b""
    assert base64.b64decode(read(f"{sandbox}/stdout", offset=0).json()["read_file"]["data"]) \
        == b"ready\n"
    directory = read(f"{sandbox}/sub", offset=0)
    assert (directory.status, directory.text) == (400, "Cannot read a directory.")
    missing = read(f"{sandbox}/nothing", offset=0)
    assert (missing.status, missing.text) == (404, "")
    assert read("/etc/passwd", offset=0).status == 404


def test_download_sends_the_whole_file_with_its_name(running) -> None:
    agent, sandbox, _ = running
    reply = get(agent, "/files/download", path=f"{sandbox}/out.txt")
    assert reply.status == 200
    assert reply.body == CONTENT.encode()
    assert reply.headers["content-disposition"] == "attachment; filename=out.txt"
    assert reply.headers["content-type"].startswith("text/plain")
    stdout = get(agent, "/files/download", path=f"{sandbox}/stdout")
    assert stdout.body == b"ready\n"
    assert stdout.headers["content-type"] == "application/octet-stream"
    directory = get(agent, "/files/download", path=f"{sandbox}/sub")
    assert (directory.status, directory.text) == (400, "Cannot download a directory.\n")
    assert get(agent, "/files/download", path=f"{sandbox}/nothing").status == 404
    assert get(agent, "/files/download", path=f"{sandbox}/../../../../..").status == 400


def test_debug_lists_the_attached_sandboxes(running) -> None:
    agent, sandbox, real = running
    attached = agent.request("GET", "/files/debug").json()
    assert attached[sandbox] == real
    assert attached[real] == real
    # Every attached directory is a sandbox of this agent.
    work = os.path.realpath(agent.work_dir)
    assert all(path.startswith(work + "/") for path in attached.values()), attached


def test_get_metrics_has_the_snapshots_names(running) -> None:
    agent, _, _ = running
    reply = agent.call({"type": "GET_METRICS", "get_metrics": {}})
    assert reply.status == 200, reply.text
    metrics = {m["name"]: m.get("value", 0.0) for m in reply.json()["get_metrics"]["metrics"]}
    snapshot = agent.request("GET", "/metrics/snapshot").json()
    assert set(metrics) == set(snapshot)
    assert metrics["slave/tasks_running"] == 1.0
    assert metrics["slave/registered"] == 1.0
    assert metrics["slave/frameworks_active"] == 1.0
    protobuf = agent.call({"type": "GET_METRICS", "get_metrics": {}},
                          accept="application/x-protobuf")
    assert protobuf.status == 200
    assert protobuf.headers["content-type"] == "application/x-protobuf"


def test_logging_level_is_raised_for_a_while_then_reverted(make_agent) -> None:
    # The disk check of the garbage collector logs at debug level every second.
    agent = make_agent(["--disk_watch_interval=1secs"])
    debug_line = "Current disk usage"
    assert agent.call({"type": "GET_LOGGING_LEVEL"}).json() == {
        "type": "GET_LOGGING_LEVEL", "get_logging_level": {"level": 0}}
    assert debug_line not in agent.log()
    reply = agent.call({"type": "SET_LOGGING_LEVEL", "set_logging_level": {
        "level": 1, "duration": {"nanoseconds": 3_000_000_000}}})
    assert (reply.status, reply.text) == (200, "")
    level = agent.call({"type": "GET_LOGGING_LEVEL"}).json()["get_logging_level"]["level"]
    assert level == 1
    wait_for(lambda: debug_line in agent.log(), what="a debug line")
    wait_for(lambda: agent.call({"type": "GET_LOGGING_LEVEL"}).json()[
        "get_logging_level"]["level"] == 0, timeout=10, what="the level to revert")
    lines = agent.log().count(debug_line)
    wait_for(lambda: agent.log().count("Reverted the logging level") == 1, what="the revert")
    import time
    time.sleep(2.5)
    assert agent.log().count(debug_line) == lines  # no debug lines once reverted


@pytest.mark.parametrize("call, message", [
    ({"type": "SET_LOGGING_LEVEL"},
     "Failed to validate agent::Call: Expecting 'set_logging_level' to be present"),
    ({"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": 1}},
     "Missing required fields: set_logging_level.duration"),
    ({"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": -1, "duration": {
        "nanoseconds": 1}}}, None),
    ({"type": "READ_FILE", "read_file": {"path": "/x"}},
     "Missing required fields: read_file.offset"),
    ({"type": "LIST_FILES"}, "Failed to validate agent::Call: Expecting 'list_files' to be present"),
    ({"type": "GET_METRICS"}, "Failed to validate agent::Call: Expecting 'get_metrics' to be present"),
])
def test_bad_calls_are_400(make_agent, call: dict[str, Any], message: str | None) -> None:
    agent = make_agent()
    reply = agent.call(call)
    assert reply.status == 400, reply.text
    if message is not None:
        assert reply.text == message
    assert agent.call({"type": "GET_LOGGING_LEVEL"}).json()["get_logging_level"]["level"] == 0

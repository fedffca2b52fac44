"""mesos-py-agent next to a real Mesos 1.11 master: registration, pings, offers."""

from __future__ import annotations

import os
import signal
import time

from tests.master import wait_for


def test_master_lists_the_agent_with_its_resources_and_attributes(master, make_agent):
    agent = make_agent([f"--master={master.address}", "--resources=cpus:2;mem:1024;disk:2048",
                        "--attributes=rack:r1;zone:2;slots:[1-4]", "--hostname=agent.test"])
    listed = wait_for(lambda: master.agent(agent.port), what="the agent in /master/slaves")
    assert listed["hostname"] == "agent.test"
    assert listed["resources"]["cpus"] == 2.0
    assert listed["resources"]["mem"] == 1024.0
    assert listed["resources"]["disk"] == 2048.0
    assert listed["resources"]["ports"] == "[31000-32000]"
    assert listed["attributes"] == {"rack": "r1", "zone": 2.0, "slots": "[1-4]"}
    assert listed["version"] == "1.11.0"
    assert "MULTI_ROLE" in listed["capabilities"]
    state = master.get("/master/state")
    assert [s["id"] for s in state["slaves"]] == [listed["id"]]
    # The agent knows its id, and says so on its operator API.
    reply = agent.call({"type": "GET_AGENT"})
    assert reply.json()["get_agent"]["agent_info"]["id"]["value"] == listed["id"]


JSON_ATTRIBUTES = ('[{"name": "rack", "type": "TEXT", "text": {"value": "r1"}},'
                   ' {"name": "zone", "type": "SCALAR", "scalar": {"value": 2}},'
                   ' {"name": "slots", "type": "RANGES",'
                   ' "ranges": {"range": [{"begin": 1, "end": 4}]}}]')
JSON_RESOURCES = ('[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 3}},'
                  ' {"name": "mem", "type": "SCALAR", "scalar": {"value": 768}}]')


def test_json_attributes_and_resources_reach_the_master_and_offers(master, make_agent,
                                                                   make_framework):
    agent = make_agent([f"--master={master.address}", f"--attributes={JSON_ATTRIBUTES}",
                        f"--resources={JSON_RESOURCES}"])
    listed = wait_for(lambda: master.agent(agent.port), what="the agent in /master/slaves")
    assert listed["attributes"] == {"rack": "r1", "zone": 2.0, "slots": "[1-4]"}
    assert (listed["resources"]["cpus"], listed["resources"]["mem"]) == (3.0, 768.0)
    offer = make_framework(master).take_offer(listed["id"])
    offered = {a["name"]: a for a in offer["attributes"]}
    assert offered["rack"]["text"]["value"] == "r1"
    assert offered["zone"]["scalar"]["value"] == 2.0
    assert offered["slots"]["ranges"]["range"] == [{"begin": 1, "end": 4}]
    assert agent.request("GET", "/state").json()["attributes"] == listed["attributes"]


def test_a_pymesos_framework_gets_offers_from_the_agent(master, make_agent, make_framework):
    agent = make_agent([f"--master={master.address}", "--resources=cpus:1;mem:512"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master)
    offer = framework.take_offer(agent_id)
    offered = {r["name"]: r for r in offer["resources"]}
    assert offered["cpus"]["scalar"]["value"] == 1.0
    assert offered["mem"]["scalar"]["value"] == 512.0
    assert offer["hostname"] == master.agent(agent.port)["hostname"]


def test_pings_are_answered(make_master, make_agent):
    # With 1s pings and 2 allowed misses, an agent that did not answer the
    # pings (they come from slave-observer(N)) would be unreachable in ~3s.
    master = make_master(agent_ping_timeout="1secs", max_agent_ping_timeouts="2")
    agent = make_agent([f"--master={master.address}"])
    wait_for(lambda: master.agent(agent.port), what="registration")
    time.sleep(4.5)
    assert master.agent(agent.port) is not None, master.log()[-3000:]
    assert "health check timeout" not in master.log()


def test_agent_reregisters_with_a_restarted_master(make_master, make_agent):
    master = make_master()
    agent = make_agent([f"--master={master.address}"])
    first = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    master.restart()
    again = wait_for(lambda: master.agent(agent.port), timeout=30, what="re-registration")
    assert again["id"] == first
    assert "Re-registered with master" in agent.log()


def test_agent_keeps_its_id_across_restarts(master, make_agent):
    agent = make_agent([f"--master={master.address}"])
    first = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    # The id is checkpointed right after the master's answer.
    latest = os.path.join(agent.work_dir, "meta", "slaves", "latest")
    wait_for(lambda: os.path.exists(os.path.join(latest, "slave.info")), what="slave.info")
    assert os.readlink(latest) == first
    agent.kill(signal.SIGKILL)
    agent.start()
    wait_for(lambda: "Re-registered with master" in agent.log(), what="re-registration")
    assert master.agent(agent.port)["id"] == first

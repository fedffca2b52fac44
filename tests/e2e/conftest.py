import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.agent import AgentProcess


@pytest.fixture
def make_agent(tmp_path) -> Iterator[Callable[..., AgentProcess]]:
    agents: list[AgentProcess] = []

    def make(extra_flags: list[str] | None = None, start: bool = True,
             name: str = "agent", root: str | None = None,
             env: dict[str, str] | None = None) -> AgentProcess:
        root = (tmp_path if root is None else Path(root)) / name
        agent = AgentProcess(str(root / "work"), str(root / "run"), extra_flags=extra_flags,
                             env=env)
        os.makedirs(root, exist_ok=True)
        agents.append(agent)
        return agent.start() if start else agent

    yield make
    for agent in agents:
        agent.cleanup()


@pytest.fixture
def agent(make_agent: Callable[..., AgentProcess]) -> AgentProcess:
    return make_agent()


# ------------------------------------------------ a real master and frameworks
from tests.master import MASTER_TOOL, MesosMaster, TestFramework, pymesos_available  # noqa: E402


@pytest.fixture
def make_master() -> Iterator[Callable[..., MesosMaster]]:
    if MASTER_TOOL is None:
        pytest.skip("the Mesos master tool (shared/tools/mesos-master) is not available")
    masters: list[MesosMaster] = []

    def make(**flags: str) -> MesosMaster:
        master = MesosMaster(**flags)
        masters.append(master)
        return master.start()

    yield make
    for master in masters:
        master.cleanup()


@pytest.fixture
def master(make_master: Callable[..., MesosMaster]) -> MesosMaster:
    return make_master()


@pytest.fixture
def make_framework() -> Iterator[Callable[..., TestFramework]]:
    if not pymesos_available():
        pytest.skip("pymesos is not installed (shared/tools/pymesos/install)")
    frameworks: list[TestFramework] = []

    def make(master: MesosMaster, **info: object) -> TestFramework:
        framework = TestFramework(master, **info)
        frameworks.append(framework)
        return framework

    yield make
    for framework in frameworks:
        framework.stop()

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

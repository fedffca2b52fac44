"""Failures whose type decides how a caller reacts (the HTTP status, mostly).

Everything else is a plain `Failure`.
"""

from mesos_py.actors import Failure


class InvalidRequest(Failure):
    """The caller asked for something malformed or impossible: HTTP 400."""


class NotFound(Failure):
    """The object named in the request does not exist: HTTP 404."""


class AgentRecovering(Failure):
    """The agent is still recovering its state: HTTP 503."""

    def __init__(self, message: str = "Agent has not finished recovery") -> None:
        super().__init__(message)

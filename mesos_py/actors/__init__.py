"""The actor layer: libprocess's model (dispatch, defer, futures) on pykka."""

from mesos_py.actors.clock import Clock, Timer
from mesos_py.actors.collect import await_all, collect, settled
from mesos_py.actors.future import Failure, Future, Promise, undiscardable
from mesos_py.actors.loop import BlockingPool, IOLoopThread, to_asyncio
from mesos_py.actors.process import PID, UPID, Process, defer, delay, dispatch
from mesos_py.actors.reaper import Reaper
from mesos_py.actors.runtime import Runtime

__all__ = [
    "PID", "UPID", "BlockingPool", "Clock", "Failure", "Future", "IOLoopThread",
    "Process", "Promise", "Reaper", "Runtime", "Timer", "await_all", "collect",
    "defer", "delay", "dispatch", "settled", "to_asyncio", "undiscardable",
]

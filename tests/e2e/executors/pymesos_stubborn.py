"""A pymesos executor that stops itself (SIGSTOP) when told to shut down, so
only the agent's `--executor_shutdown_grace_period` can end it."""

import os
import signal
import sys

from pymesos import Executor, MesosExecutorDriver


class Stubborn(Executor):
    def launchTask(self, driver, task):
        driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_RUNNING"})

    def shutdown(self, driver):
        with open("shutdown-received", "w"):
            pass
        os.kill(os.getpid(), signal.SIGSTOP)


if __name__ == "__main__":
    driver = MesosExecutorDriver(Stubborn(), use_addict=False)
    driver.run()
    sys.exit(0)

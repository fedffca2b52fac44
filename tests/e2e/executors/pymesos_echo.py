"""A custom executor written with pymesos, unchanged: it answers framework
messages and finishes its task when told to. Run by the agent as a program."""

import sys
import threading
import time

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data


class Echo(Executor):
    def launchTask(self, driver, task):
        self.task_id = task["task_id"]
        driver.sendStatusUpdate({"task_id": self.task_id, "state": "TASK_RUNNING",
                                 "message": "echo executor running"})

    def frameworkMessage(self, driver, message):
        text = decode_data(message).decode()
        driver.sendFrameworkMessage(encode_data(f"echo:{text}".encode()))
        if text == "finish":
            driver.sendStatusUpdate({"task_id": self.task_id, "state": "TASK_FINISHED"})


if __name__ == "__main__":
    driver = MesosExecutorDriver(Echo(), use_addict=False)
    driver.run()
    sys.exit(0)

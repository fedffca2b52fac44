"""Agent logging in glog's shape, so operators used to Mesos logs read it at a glance:

    I1122 05:06:02.123456  4242 containerizer.py:123] c1: transitioned from ...
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

_LEVEL_LETTER = {logging.DEBUG: "D", logging.INFO: "I", logging.WARNING: "W",
                 logging.ERROR: "E", logging.CRITICAL: "F"}


class GlogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = time.localtime(record.created)
        stamp = time.strftime("%m%d %H:%M:%S", moment)
        micros = int((record.created % 1) * 1_000_000)
        letter = _LEVEL_LETTER.get(record.levelno, "I")
        line = (f"{letter}{stamp}.{micros:06d} {threading.get_native_id():>7} "
                f"{record.filename}:{record.lineno}] {record.getMessage()}")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str, log_dir: str | None) -> None:
    root = logging.getLogger()
    root.setLevel(getattr(logging, level))
    formatter = GlogFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        handlers.append(logging.FileHandler(os.path.join(log_dir, "mesos-py-agent.log")))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    # Third-party chatter (tornado access lines, pykka debug) stays out of INFO.
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    logging.getLogger("pykka").setLevel(logging.WARNING)

"""mesos_py: the Apache Mesos agent as an actor system."""

__version__ = "0.1.0"

"""The built-in executors: separate programs the agent runs in containers."""

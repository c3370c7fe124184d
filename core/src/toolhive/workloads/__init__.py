"""The workload use cases: run, list, stop, start, rm, logs, export, and the supervisor."""

"""The whole platform in one process: the embedded default for one machine (``make run``)."""

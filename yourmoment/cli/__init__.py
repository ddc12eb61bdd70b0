"""The `starter.py` command line: configuration, running processes, browsing myMoment, operations."""

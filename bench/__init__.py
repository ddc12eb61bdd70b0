"""Benchmarks of issue 5: real Temporal dev server, real worker process, imitation servers, politeness on."""

"""Local imitation servers (myMoment, OpenAI-compatible) used by tests, benchmarks and the demo."""

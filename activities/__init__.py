"""Temporal activities: every piece of I/O (database, myMoment, LLM, Redis) the workflows need."""

"""The myMoment site: page parsers and an HTTP client that logs in rarely and posts exactly once."""

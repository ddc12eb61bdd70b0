"""Page rendering for the imitation servers (plain Python string building, no template engine)."""

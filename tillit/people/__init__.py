"""People, organisations, the interaction timeline and provenance."""

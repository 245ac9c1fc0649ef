"""Partners, dialogues, disclosures and processors."""

"""Safety: the hazard taxonomy for music prompts and its demo data."""

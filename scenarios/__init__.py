"""Named, versioned experiment definitions (scenario files and their typed loader)."""

"""Which models exist (catalog) and which engine serves each (models file)."""

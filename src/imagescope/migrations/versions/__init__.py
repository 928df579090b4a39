"""One module per schema revision, oldest first: ``v0001_…`` is the previous release's schema."""

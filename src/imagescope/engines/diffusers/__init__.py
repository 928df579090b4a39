"""Open-weight pipelines through diffusers: the engine and its one-copy-per-process weights."""

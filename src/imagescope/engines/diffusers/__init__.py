"""Open-weight pipelines through diffusers: the engines (``engine``), their options (``options``),
which Qwen-Image pipeline serves which wanx2.1-imageedit function (``pipelines``, importable
without the diffusers extra), and the one-copy-per-process weights (``weights``)."""

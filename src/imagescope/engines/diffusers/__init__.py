"""Open-weight pipelines through diffusers: the image engines (``engine``), the Wan video engines
(``video``, with ``frames``: the model's frames to the task's, and ``vace``: VACE's functions as
the pipeline's inputs), their options (``options``), which pipeline serves which function or
model (``pipelines``, importable without the diffusers extra), and the one-copy-per-process
weights (``weights``)."""

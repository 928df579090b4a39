"""imagescope: a self-hosted image generation service that speaks the DashScope image API."""

__version__ = "0.1.0"

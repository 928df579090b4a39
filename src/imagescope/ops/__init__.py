"""Running the service: metrics, the memory allocator."""

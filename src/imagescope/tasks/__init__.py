"""A task's life: the internal request (spec), accepting it, the store, dispatch, the worker, leases and retention."""

"""Who may do what and what it costs: accounts and keys, limits, billing, usage."""

"""Where images live: local files behind signed URLs, and the SDK's upload flow."""

"""Built-in transports: the stdio bridge and the HTTP reverse proxy (plugins like any other)."""

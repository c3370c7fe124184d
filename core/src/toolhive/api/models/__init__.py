"""Request and response models of the REST API areas too large to sit next to their routes."""

"""toolhive-runtime-process: placeholder, being written."""

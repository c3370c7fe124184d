"""toolhive-runtime-podman: placeholder, being written."""

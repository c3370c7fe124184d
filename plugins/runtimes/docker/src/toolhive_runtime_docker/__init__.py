"""toolhive-runtime-docker: placeholder, being written."""

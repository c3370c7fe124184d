"""toolhive-runtime-colima: placeholder, being written."""

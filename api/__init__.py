"""The doors into the library: the HTTP API (`api.app`) and the `pml` CLI (`api.cli`)."""

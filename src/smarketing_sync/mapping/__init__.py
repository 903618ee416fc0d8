"""TOML field mappings: load, validate, convert, apply (pull) and render (push)."""

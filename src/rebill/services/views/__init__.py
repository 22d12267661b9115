"""Read models for the API, CLI and web faces, as plain documents."""

"""An agency's brand: custom portal domains."""

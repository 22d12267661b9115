"""The catalog: its file's shape, who owns each field, applying it, writing it back."""

"""flask."""

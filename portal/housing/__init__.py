"""Housing stock: estates, buildings and units (房源)."""

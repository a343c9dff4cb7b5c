"""POST /admin/reload: load, warm and swap in a new bundle."""

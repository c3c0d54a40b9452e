"""Domain services: one per domain, called by the user API and admin actions alike."""

"""Authentication: access tokens and the principal they stand for."""

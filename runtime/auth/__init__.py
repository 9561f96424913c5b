"""Who is calling: API tokens (stored hashed) with a role each."""

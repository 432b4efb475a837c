"""Forgetting a person: the forgetPerson mutation (admin)."""

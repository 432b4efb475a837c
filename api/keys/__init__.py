"""API keys over the API (admin): list, create, revoke."""

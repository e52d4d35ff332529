"""Repositories: keyword-only data-access functions over one session; they never commit."""

"""Accounts: the user model, allauth wiring, profiles and personal access tokens."""

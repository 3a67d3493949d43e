"""allauth hook point: our account adapter (customisation goes here, never in copied views)."""

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    pass

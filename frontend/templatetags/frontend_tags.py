"""Template filters for the pages: times in the words people use ("5 minutes ago", "in 3 days")."""

import math

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(value) -> str:
    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.filter
def days_left(value) -> str:
    """Whole days until value, rounded up: what is left of a retention period."""
    if not value:
        return ""
    days = math.ceil((value - timezone.now()).total_seconds() / 86400)
    if days <= 0:
        return "today"
    return "tomorrow" if days == 1 else f"in {days} days"

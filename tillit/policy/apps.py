"""Django app configuration for tillit.policy."""

from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "tillit.policy"
    label = "tillit_policy"
    verbose_name = "The policy file and the rulebook"

    def ready(self) -> None:
        """Load and validate the policy file at start-up; a broken file stops start-up."""
        from django.core.exceptions import ImproperlyConfigured

        from tillit import policy

        try:
            policy.current()
        except policy.PolicyError as error:
            raise ImproperlyConfigured(f"policy file is broken: {error}") from None

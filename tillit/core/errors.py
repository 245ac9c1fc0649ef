"""The domain error tree. Interfaces translate these once (API, web, CLI)."""


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    ``code`` is stable and machine-readable, ``message`` is safe to show (it never holds
    personal data), ``field`` names the input that was wrong, when there is one.
    """

    code = "domain_error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class ValidationError(DomainError):
    """Input that breaks a rule of the domain (a bad email, an unknown category)."""

    code = "invalid"
    status = 422


class NotFoundError(DomainError):
    """The record does not exist, or the actor may not see it: the two look the same."""

    code = "not_found"
    status = 404


class PermissionDeniedError(DomainError):
    """The actor may not perform this action at all (not a hidden record: that is NotFound)."""

    code = "forbidden"
    status = 403


class ConflictError(DomainError):
    """The action clashes with what is stored (a duplicate email, a concurrent run)."""

    code = "conflict"
    status = 409

"""A page of results, the same shape for the API, the staff UI and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from tillit.core.errors import ValidationError

T = TypeVar("T")

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    page_size: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def check_page(page: int, page_size: int) -> tuple[int, int]:
    """Validated (offset, limit) for a 1-based page number."""
    if page < 1:
        raise ValidationError("page numbers start at 1", field="page")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(f"page_size must be between 1 and {MAX_PAGE_SIZE}", field="page_size")
    return (page - 1) * page_size, page_size

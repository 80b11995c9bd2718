"""The microservice chassis: plumbing shared by every service.

It knows nothing of orders or products; a service upgrades it without the others."""

from chassis.app import create_app
from chassis.errors import (
    BadRequest,
    Conflict,
    DependencyTimeout,
    DependencyUnavailable,
    DomainError,
    NotFound,
    Unprocessable,
)
from chassis.settings import BaseServiceSettings

__all__ = [
    "BadRequest",
    "BaseServiceSettings",
    "Conflict",
    "DependencyTimeout",
    "DependencyUnavailable",
    "DomainError",
    "NotFound",
    "Unprocessable",
    "create_app",
]

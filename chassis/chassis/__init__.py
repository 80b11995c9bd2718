"""The microservice chassis: plumbing shared by every service, knowing nothing of orders or products."""

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

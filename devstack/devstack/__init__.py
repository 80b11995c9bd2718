"""The local stack: PostgreSQL, Redis, noida-db (Kafka + Elasticsearch), nx-27017 (MongoDB)
and the services as plain processes on 127.0.0.1, without Docker."""

from devstack.errors import StackError
from devstack.local_stack import ComponentHandle, Endpoints, local_stack
from devstack.profiles import PROFILES, Profile, get_profile
from devstack.services import SERVICES, ServiceSpec, get_service, service_env, start_service
from devstack.stack import COMPONENTS, Stack
from devstack.topics import TOPICS

__all__ = [
    "COMPONENTS",
    "PROFILES",
    "SERVICES",
    "TOPICS",
    "ComponentHandle",
    "Endpoints",
    "Profile",
    "ServiceSpec",
    "Stack",
    "StackError",
    "get_profile",
    "get_service",
    "local_stack",
    "service_env",
    "start_service",
]

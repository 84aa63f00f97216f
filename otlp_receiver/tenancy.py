"""The project of an export: set by ``Receiver.authenticate`` from the API key, stamped on the request.

The project travels with the request through the spool as the resource attribute ``agentotel.project``
(``core.projects.PROJECT_ATTRIBUTE``) of every resource, which the decode step reads. The receiver sets it
from the key and removes any the client sent, so a key of project A can never write into B, whatever the
resource attributes say. Requests of the default project carry no attribute (and pay no re-encoding).
"""

from __future__ import annotations

from contextvars import ContextVar

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from agentotel.core.projects import DEFAULT_PROJECT, PROJECT_ATTRIBUTE

# the project of the request being handled: set by authenticate, read by export in the same task/thread
CURRENT_PROJECT: ContextVar[str] = ContextVar("agentotel_project", default=DEFAULT_PROJECT)
RESOURCE_LISTS = {"traces": "resource_spans", "metrics": "resource_metrics", "logs": "resource_logs"}


def stamp_project(request: Message, signal_name: str, project: str) -> bool:
    """Put ``project`` on every resource of ``request`` (none for the default project) and drop any
    ``agentotel.project`` the client sent; True when the request changed (its raw bytes are stale)."""
    changed = False
    for resource_entry in getattr(request, RESOURCE_LISTS[signal_name]):
        attributes = resource_entry.resource.attributes
        for i in range(len(attributes) - 1, -1, -1):
            if attributes[i].key == PROJECT_ATTRIBUTE:
                del attributes[i]
                changed = True
        if project != DEFAULT_PROJECT:
            attributes.append(KeyValue(key=PROJECT_ATTRIBUTE, value=AnyValue(string_value=project)))
            changed = True
    return changed

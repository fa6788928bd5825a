"""One router per resource; each handler calls a service and maps its answer to a schema."""

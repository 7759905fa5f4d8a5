"""``azure.durable_functions.models.utils``."""

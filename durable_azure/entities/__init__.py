"""Durable entities, pure: the entity context, the batch executor, class-based entities and entity messages."""

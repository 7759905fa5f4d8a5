"""Entity ids: ``EntityId(name, key)`` whose instance id is ``@name@key`` (name lower-cased, as in DF)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class EntityId:
    """Identifies one durable entity. Frozen and hashable; equal ids name the same entity."""

    name: str
    key: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Entity name must be a non-empty string.")
        if not isinstance(self.key, str):
            raise ValueError(f"Entity key must be a string, got {type(self.key).__name__}.")
        if "@" in self.name:
            raise ValueError(f"Entity name {self.name!r} must not contain '@'.")

    @property
    def instance_id(self) -> str:
        """The entity's instance id, ``@name@key``."""
        return f"@{self.name.lower()}@{self.key}"

    def __str__(self) -> str:
        return self.instance_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EntityId) and other.instance_id == self.instance_id

    def __hash__(self) -> int:
        return hash(self.instance_id)

    @staticmethod
    def get_scheduler_id(entity_id: EntityId) -> str:
        return entity_id.instance_id

    @staticmethod
    def get_entity_id(scheduler_id: str) -> EntityId:
        """Parse ``@name@key``."""
        if not scheduler_id.startswith("@") or scheduler_id.count("@") < 2:
            raise ValueError(f"{scheduler_id!r} is not an entity instance id (expected '@name@key').")
        name, key = scheduler_id[1:].split("@", 1)
        return EntityId(name, key)

    @staticmethod
    def get_entity_id_url_path(entity_id: EntityId) -> str:
        return f"entities/{entity_id.name}/{entity_id.key}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key}

"""Errors the world raises for bad requests; the protocol turns them into RPC errors."""


class WorldError(Exception):
    """A request the world refuses (unknown actor, bad argument); the server keeps running."""


class SpawnError(WorldError):
    """An actor could not be spawned (occupied spot, unknown blueprint, bad attribute)."""


class UnknownActorError(WorldError):
    """No live actor has the given id."""

    def __init__(self, actor_id: int) -> None:
        super().__init__(f"actor {actor_id} not found")
        self.actor_id = actor_id

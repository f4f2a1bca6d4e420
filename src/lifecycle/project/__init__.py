"""A project's own life: `lifecycle init` on a user's table, `lifecycle clean`."""

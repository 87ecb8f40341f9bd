"""PostgreSQL access with asyncpg: pool, migrations, seeds, and one module per table family."""

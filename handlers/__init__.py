"""The aiohttp edge: app factory, REST, WebSocket endpoints, CLI. Depends on the core only."""

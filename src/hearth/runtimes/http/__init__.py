"""Hearth's ``http`` runtime: any HTTP server process, started on demand and reverse-proxied by the gateway.

    runtime.py   HttpRuntime: creates server processes and their pools (registered with the platform)
    pool.py      ServerPool: the one server of a function version — single-flight start, concurrency, records
    process.py   ServerProcess: start through the zygote, health check, output, exit, stop
    proxy.py     forward(): one HTTP exchange, streamed both ways, headers rewritten as a reverse proxy does
    websocket.py forward_upgrade(): one upgraded connection (WebSocket), bytes copied both ways
    client.py    the HTTP/1.1 client to the server (asyncio + httptools, keep-alive pool)
"""

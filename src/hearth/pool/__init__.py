"""Instance lifecycle and scheduling: cold/warm, concurrency, idle reaping, limits."""

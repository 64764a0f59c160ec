"""How instances run code; each runtime has a child side and a platform side."""

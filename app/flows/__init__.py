"""Work that crosses domains (offboarding): each step lives in its own domain; ``service.py`` only
sequences them, and ``router.py`` is its endpoint. The highest layer below the HTTP entry point."""

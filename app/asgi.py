"""The ASGI application uvicorn serves (``app.asgi:app``); refuses settings unsafe to serve with."""

from app.config import Settings
from app.main import create_app

settings = Settings()
if problem := settings.startup_problem():
    raise RuntimeError(f"configuration error: {problem}")
app = create_app(settings)

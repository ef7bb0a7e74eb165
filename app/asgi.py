"""The ASGI application uvicorn serves (``app.asgi:app``); refuses settings unsafe to serve with.

Once the app is built, what importing and building it allocated (~140,000 objects: modules, mapped
classes, routes, schemas) is moved out of the garbage collector's scans for good (``tune_gc``). Frozen
before the import, as ``fineline serve`` did, they stayed in: each full collection walked them all,
a 40–90 ms pause of the event loop that every STOP and callback in flight waited through. Here it
holds for every process uvicorn starts (``--workers N`` included).
"""

from app.config import Settings
from app.main import create_app
from app.ops.runtime import tune_gc

settings = Settings()
if problem := settings.startup_problem():
    raise RuntimeError(f"configuration error: {problem}")
app = create_app(settings)
tune_gc()

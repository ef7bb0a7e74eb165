from app.db.base import Base
from app.db.session import Database

__all__ = ["Base", "Database"]

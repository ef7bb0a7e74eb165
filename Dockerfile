FROM python:3.11-slim
WORKDIR /srv/fineline
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY alembic ./alembic
RUN pip install --no-cache-dir -e .  # editable: the CLI finds alembic/ beside app/
EXPOSE 8000
CMD ["fineline", "serve", "--host", "0.0.0.0"]

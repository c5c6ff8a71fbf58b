# One image for both services; docker-compose.yml picks the command (python -m gateway | indexer).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY catalog ./catalog
COPY gateway ./gateway
COPY indexer ./indexer
RUN pip install --no-cache-dir . && useradd --create-home catalog
USER catalog
ENV CATALOG_HOST=0.0.0.0 CATALOG_DATA_DIR=/home/catalog/data
EXPOSE 8000
CMD ["python", "-m", "gateway"]

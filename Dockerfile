# The yourMoment image used by docker-compose.temporal.yml: worker.py, starter.py and the codec server.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what the package needs, so a local .venv, .env or database never ends up in the image (nor the
# imitations and yourmoment_dev/: the product imports neither, tests/test_import_graph.py).
COPY pyproject.toml ./
COPY yourmoment ./yourmoment
COPY workflows ./workflows
COPY activities ./activities
RUN pip install . && rm -rf build *.egg-info
COPY worker.py starter.py ./

RUN useradd --system --uid 10001 --no-create-home yourmoment
USER yourmoment

CMD ["python", "worker.py"]

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
# PyICU builds against Debian's ICU: the compiler and headers go after the build, the ICU library stays.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ pkg-config libicu-dev \
    && pip install . && rm -rf build *.egg-info \
    && apt-mark manual $(dpkg-query -W -f='${Package}\n' 'libicu[0-9]*') \
    && apt-get purge -y --auto-remove g++ pkg-config libicu-dev \
    && rm -rf /var/lib/apt/lists/*
COPY worker.py starter.py ./

RUN useradd --system --uid 10001 --no-create-home yourmoment
USER yourmoment

CMD ["python", "worker.py"]

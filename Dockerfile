# The indexer's image: `docker compose` builds it for the one-shot `migrate` service and the `worker`.
# Every runtime dependency ships a binary wheel for CPython 3.11, so no compiler is installed.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --uid 10001 indexer
WORKDIR /srv/appview-indexer

# Dependencies first, in a layer of their own that a code change does not invalidate: the package is
# installed editable over empty placeholders, then the real sources are copied over them. The layout
# is the repository's (alembic.ini, migrations/, app/, models/ side by side), as with `make run`.
COPY pyproject.toml README.md ./
RUN mkdir app models \
    && touch app/__init__.py models/__init__.py \
    && pip install -e . \
    && rm -rf build
COPY alembic.ini ./
COPY migrations ./migrations
COPY models ./models
COPY app ./app

# Faust keeps its data directory (<app id>-data) in the working directory: the directory belongs to
# the worker's user, the files stay root's and read-only to it.
RUN chown indexer:indexer /srv/appview-indexer
USER indexer

ENV WEB_HOST=0.0.0.0 \
    WEB_PORT=6066
EXPOSE 6066
CMD ["faust", "-A", "app", "worker", "-l", "info"]

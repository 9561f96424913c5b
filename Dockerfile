# The Pluginops image: the runtime and its CLI.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/pluginops
COPY pyproject.toml README.md ./
COPY pluginops ./pluginops
COPY runtime ./runtime
COPY collector ./collector
COPY evaluator ./evaluator
COPY dashboards ./dashboards
COPY alerts ./alerts
COPY schemas ./schemas
COPY examples ./examples
RUN pip install --no-cache-dir .
ENV PLUGINOPS_HOME=/var/lib/pluginops
VOLUME /var/lib/pluginops
ENTRYPOINT ["pluginops"]
CMD ["--help"]

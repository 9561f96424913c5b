# The Pluginops image: the runtime and its CLI.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/pluginops
COPY pyproject.toml setup.py constraints.txt README.md LICENSE ./
COPY pluginops ./pluginops
COPY runtime ./runtime
COPY collector ./collector
COPY evaluator ./evaluator
COPY dashboards ./dashboards
COPY alerts ./alerts
COPY schemas ./schemas
COPY examples ./examples
# The runtime alone by default; EXTRAS=evaluator adds pandas, pyarrow, scipy and matplotlib (the
# compose stack builds it so, as its evaluator service runs from the same image). Versions are the
# ones the tests passed with.
ARG EXTRAS=""
RUN pip install --no-cache-dir -c constraints.txt ".${EXTRAS:+[$EXTRAS]}"
ENV PLUGINOPS_HOME=/var/lib/pluginops
VOLUME /var/lib/pluginops
ENTRYPOINT ["pluginops"]
CMD ["--help"]

# The Pluginops image: the runtime and its CLI.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/pluginops
COPY pyproject.toml setup.py constraints.txt README.md LICENSE ./
COPY contracts ./contracts
COPY pluginops ./pluginops
COPY runtime ./runtime
COPY collector ./collector
COPY evaluator ./evaluator
COPY dashboards ./dashboards
COPY alerts ./alerts
COPY stack ./stack
COPY fleet ./fleet
COPY schemas ./schemas
COPY examples ./examples
# The runtime alone by default; EXTRAS=evaluator adds pandas, pyarrow, scipy and matplotlib (the
# compose stack builds it so, as its evaluator service runs from the same image). Versions are the
# ones the tests passed with.
ARG EXTRAS=""
RUN pip install --no-cache-dir -c constraints.txt ".${EXTRAS:+[$EXTRAS]}"
ENV PLUGINOPS_HOME=/var/lib/pluginops
# The runtime runs as an unprivileged user, and so do its sandbox workers (as the same uid: only a
# root runtime gives each plugin a uid of its own; docs/sandbox.md, "The container"). The folders
# its named volumes start from are its own, so the volumes are too.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/pluginops --no-create-home \
        --shell /usr/sbin/nologin pluginops \
    && install -d -o pluginops -g pluginops -m 0711 /var/lib/pluginops \
    && install -d -o pluginops -g pluginops -m 0700 /var/lib/pluginops-publisher
USER pluginops
VOLUME /var/lib/pluginops
ENTRYPOINT ["pluginops"]
CMD ["--help"]

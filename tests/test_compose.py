"""docker-compose.yml, checked as far as a machine without a Docker engine can: Debian's
docker-compose validates it against the Compose specification, every image is pinned or built
here, every file it mounts exists and is generated, Prometheus' and Alertmanager's configs pass
promtool and amtool, the services wire to each other by the names the configs use, and the
alerts panel's query answers from a Prometheus running the stack's own config."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.catalogue import Dashboards
from dashboards import queries as q
from dashboards import stack, store
from dashboards.specs import ALL
from pluginops.generated import GENERATED
from stack.processes import get_json, prometheus
from tests.conftest import REPO

IMAGE_ROOT = "/opt/pluginops/"
LONG_RUNNING = {"runtime", "evaluator", "prometheus", "alertmanager", "webhook", "grafana"}


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Any]:
    return dict(compose()["services"])


def bind_mounts() -> list[tuple[str, str, str]]:
    """(service, host path, container path) of every bind mount."""
    out = []
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                out.append((name, source.removeprefix("./"), target))
    return out


def test_the_compose_file_validates_against_the_compose_specification() -> None:
    binary = shutil.which("docker-compose")
    assert binary, "make test installs Debian's docker-compose"
    done = subprocess.run([binary, "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr


def test_published_ports_are_bound_to_loopback_unless_the_user_opts_in() -> None:
    binary = str(shutil.which("docker-compose"))

    def published(env: dict[str, str]) -> set[str]:
        done = subprocess.run([binary, "-f", str(REPO / "docker-compose.yml"), "config"],
                              capture_output=True, text=True, cwd=REPO, timeout=120,
                              env={"PATH": "/usr/bin:/bin", **env})
        assert done.returncode == 0, done.stderr
        ports = [port for service in yaml.safe_load(done.stdout)["services"].values()
                 for port in service.get("ports", [])]
        assert ports
        return {str(p["host_ip"]) if isinstance(p, dict) else str(p).rsplit(":", 2)[0]
                for p in ports}

    assert published({}) == {"127.0.0.1"}
    assert published({"PLUGINOPS_BIND_ADDRESS": "0.0.0.0"}) == {"0.0.0.0"}


def test_the_validator_refuses_a_broken_file(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["runtime"]["healthcheck"]["retries"] = "many"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    done = subprocess.run([str(shutil.which("docker-compose")), "-f", str(path), "config", "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0


def test_every_service_has_a_pinned_or_locally_built_image() -> None:
    built = {s.get("image") for s in services().values() if "build" in s}
    for name, service in services().items():
        image = service.get("image", "")
        assert re.match(r"^[\w./-]+:[\w.-]+$", image) and not image.endswith(":latest"), name
        assert image in built or re.search(r":v?\d+\.\d+\.\d+$", image), name


def test_every_mounted_file_exists_and_is_generated() -> None:
    for name, source, _ in bind_mounts():
        path = REPO / source
        assert path.exists(), (name, source)
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        assert files, (name, source)
        for file in files:
            assert str(file.relative_to(REPO)) in GENERATED, (name, file)


def test_long_running_services_have_health_checks_and_dependencies_exist() -> None:
    for name in LONG_RUNNING:
        assert "healthcheck" in services()[name], name
    for name, service in services().items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services(), (name, dependency)
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services()[dependency], (name, dependency)


def test_the_configs_name_the_services_compose_runs() -> None:
    names = set(services())
    hosts = [stack.RUNTIME, stack.EVALUATOR, stack.PROMETHEUS_URL, stack.ALERTMANAGER,
             stack.SINK, stack.TEMPO_URL, stack.TEMPO_OTLP]
    for address in hosts:
        host = urllib.parse.urlsplit(address if "//" in address else f"//{address}").hostname
        assert host in names, address
    assert services()["webhook"]["command"][-1] == stack.SINK.rsplit(":", 1)[1]
    grafana = {target: source for name, source, target in bind_mounts() if name == "grafana"}
    assert grafana[stack.DASHBOARDS_PATH] == "dashboards/generated"
    runtime_env = services()["runtime"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert urllib.parse.urlsplit(runtime_env).hostname == "otel-collector"


def test_traffic_executes_plugins_the_setup_installs_with_the_token_it_creates() -> None:
    setup = " ".join(services()["setup"]["command"])
    command = services()["traffic"]["command"]
    plugins = [command[i + 1] for i, arg in enumerate(command) if arg == "--plugin"]
    assert plugins
    for plugin in plugins:
        assert re.search(rf"pluginops install {plugin}\b", setup), plugin
    token_file = command[command.index("--token-file") + 1]
    assert re.search(rf"pluginops token create --user \S+ --role operator > {token_file}",
                     setup)
    assert any(v.startswith("pluginops-state:/var/lib/pluginops")
               for v in services()["traffic"]["volumes"])


def test_grafana_provisioning_matches_the_dashboards() -> None:
    datasources = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/pluginops.yml").read_text())
    uids = {d["uid"]: d for d in datasources["datasources"]}
    assert set(uids) == {Dashboards.PROMETHEUS_UID, Dashboards.ALERTMANAGER_UID,
                         Dashboards.TRACES_UID}
    links = uids[Dashboards.PROMETHEUS_UID]["jsonData"]["exemplarTraceIdDestinations"]
    assert links == [{"name": "trace_id", "datasourceUid": Dashboards.TRACES_UID}]
    for name in ALL:
        document = json.loads((REPO / "dashboards/generated" / name).read_text())
        variable = next(v for v in document["templating"]["list"]
                        if v["name"] == Dashboards.DATASOURCE_VARIABLE)
        assert variable["current"]["value"] == Dashboards.PROMETHEUS_UID


def test_the_collector_pipeline_uses_what_it_declares() -> None:
    config = yaml.safe_load((REPO / "deploy/otel-collector/config.yml").read_text())
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline[kind]) <= set(config[kind]), kind


def _local_prometheus_config(folder: Path) -> Path:
    """The stack's prometheus.yml with its mounted paths mapped to this machine."""
    mounts = {target: REPO / source for name, source, target in bind_mounts()
              if name == "prometheus"}
    text = (REPO / "deploy/prometheus/prometheus.yml").read_text()
    for target, source in mounts.items():
        text = text.replace(target, str(source))
    path = folder / "prometheus.yml"
    path.write_text(text)
    return path


def test_prometheus_and_alertmanager_accept_their_configs(tmp_path: Path) -> None:
    checked = subprocess.run(["promtool", "check", "config", str(_local_prometheus_config(
        tmp_path))], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout and "rules found" in checked.stdout
    amtool = subprocess.run(["amtool", "check-config",
                             str(REPO / "deploy/alertmanager/alertmanager.yml")],
                            capture_output=True, text=True, timeout=60)
    assert amtool.returncode == 0, amtool.stdout + amtool.stderr


@pytest.mark.slow
def test_the_alerts_panel_answers_from_prometheus_running_the_stacks_config(
        tmp_path: Path) -> None:
    config = yaml.safe_load(_local_prometheus_config(tmp_path).read_text())
    config["global"]["evaluation_interval"] = "1s"
    with prometheus(tmp_path / "prom", yaml.safe_dump(config), []) as url:
        query = urllib.parse.urlencode({"query": q.ALERTS_FIRING.expr})
        deadline, result = time.monotonic() + 30, []
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            result = get_json(f"{url}/api/v1/query?{query}")["data"]["result"]
        assert {r["metric"]["alertname"] for r in result} >= {"Watchdog"}


def test_the_dockerfile_copies_only_what_exists() -> None:
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


def test_paths_inside_the_image_exist_in_the_repository() -> None:
    for service in services().values():
        command = service.get("command", [])
        for arg in command if isinstance(command, list) else [command]:
            for path in re.findall(rf"{IMAGE_ROOT}[\w./-]+", arg):
                assert (REPO / path.removeprefix(IMAGE_ROOT)).exists() or \
                    path.endswith("/*"), path


def test_the_publishers_private_key_is_never_on_a_volume_the_runtime_mounts() -> None:
    setup = " ".join(services()["setup"]["command"])
    keygen = re.search(r"pluginops keygen --out (\S+)", setup)
    assert keygen is not None
    key_folder = keygen.group(1)
    [key_volume] = [v.split(":")[0] for v in services()["setup"]["volumes"]
                    if v.split(":")[1] == key_folder]
    assert f"--key {key_folder}/signing.key" in setup
    for name, service in services().items():
        mounted = {v.split(":")[0] for v in service.get("volumes", [])}
        assert name == "setup" or key_volume not in mounted, name
    assert "keys/trusted/" in setup  # the runtime trusts the public half


def test_the_image_runs_as_an_unprivileged_user_and_the_runtime_holds_no_capability() -> None:
    dockerfile = (REPO / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image's last USER is not root"
    entrypoint = max(i for i, line in enumerate(dockerfile) if line.startswith("ENTRYPOINT"))
    assert max(i for i, line in enumerate(dockerfile) if line.startswith("USER ")) < entrypoint
    for name in ("setup", "runtime"):
        service = services()[name]
        assert service.get("user") in (None, users[-1]), name  # compose keeps the image's user
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    for name, service in services().items():  # whatever runs the image's runtime, the same
        if service.get("image") == services()["runtime"]["image"]:
            assert service.get("user") in (None, users[-1]), name


def test_the_tls_profile_fronts_the_runtime_with_the_generated_caddyfile() -> None:
    proxy = services()["tls-proxy"]
    assert proxy["profiles"] == ["tls"]
    assert proxy["depends_on"] == {"runtime": {"condition": "service_healthy"}}
    mounts = {target: source for name, source, target in bind_mounts() if name == "tls-proxy"}
    assert mounts == {"/etc/caddy/Caddyfile": "deploy/caddy/Caddyfile"}
    assert any(volume.endswith(f":{stack.TLS_DIR}:ro") for volume in proxy["volumes"])
    assert proxy["ports"] == [
        f"${{PLUGINOPS_BIND_ADDRESS:-127.0.0.1}}:{stack.TLS_PORT}:{stack.TLS_PORT}"]
    assert {"PLUGINOPS_TRUSTED_PROXY", "PLUGINOPS_SECURE_COOKIES"} <= set(
        services()["runtime"]["environment"])
    binary = shutil.which("caddy")
    assert binary, "make test installs Debian's caddy"
    adapted = subprocess.run([binary, "adapt", "--config", str(REPO / "deploy/caddy/Caddyfile"),
                              "--adapter", "caddyfile"], capture_output=True, text=True,
                             timeout=60)
    assert adapted.returncode == 0, adapted.stderr
    server = json.loads(adapted.stdout)["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [f"0.0.0.0:{stack.TLS_PORT}"]
    assert json.dumps(server).count(stack.RUNTIME) == 1


FLEET_SERVICES = {"victoriametrics", "vmagent", "vmalert"}


def test_the_fleet_profile_runs_the_store_with_the_flags_the_live_fleet_test_runs() -> None:
    fleet = {name: s for name, s in services().items() if s.get("profiles") == ["fleet"]}
    assert set(fleet) == FLEET_SERVICES
    assert fleet["victoriametrics"]["command"] == store.store_args(":8428", "/storage")
    assert fleet["vmagent"]["command"] == store.vmagent_args(
        ":8429", store.VMAGENT_CONFIG, store.STORE_URL, "/vmagent-buffer")
    assert fleet["vmalert"]["command"] == store.vmalert_args(
        ":8880", store.VMALERT_RULES, store.STORE_URL, f"http://{stack.ALERTMANAGER}")
    for address in (store.STORE, store.VMAGENT, store.VMALERT):
        assert address.split(":")[0] in services(), address
    mounts = {(name, target): source for name, source, target in bind_mounts()
              if name in FLEET_SERVICES}
    assert mounts == {("vmagent", store.VMAGENT_CONFIG): "deploy/vmagent/scrape.yml",
                      ("vmagent", store.VMAGENT_TARGETS): "deploy/prometheus/runtimes",
                      ("vmalert", store.VMALERT_RULES): "alerts/generated/rules.yml"}
    for name in FLEET_SERVICES:
        assert "healthcheck" in fleet[name], name
    # the images are the version the live fleet test runs from Debian
    versions = {fleet[name]["image"].rsplit(":v", 1)[1] for name in FLEET_SERVICES}
    packaged = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"],
                              capture_output=True, text=True, timeout=30).stdout
    assert versions == {packaged.split("+")[0]}, (versions, packaged)


@pytest.mark.parametrize(("binary", "flag", "config"), [
    ("vmagent", "-promscrape.config", "deploy/vmagent/scrape.yml"),
    ("vmalert", "-rule", "alerts/generated/rules.yml"),
])
def test_the_store_components_accept_their_generated_configs(
        binary: str, flag: str, config: str, tmp_path: Path) -> None:
    """vmagent refuses fields it does not know (Prometheus' `refresh_interval`, for one); vmalert
    parses every rule as MetricsQL."""
    found = shutil.which(binary)
    assert found, "make test installs Debian's victoria-metrics"
    checked = subprocess.run([found, "-dryRun", f"{flag}={REPO / config}"],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr[-2000:]


def test_prometheus_in_agent_mode_accepts_the_generated_remote_write_config() -> None:
    checked = subprocess.run(["promtool", "check", "config", "--agent",
                              str(REPO / "deploy/prometheus/agent.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stderr
    config = yaml.safe_load((REPO / "deploy/prometheus/agent.yml").read_text())
    assert config["remote_write"] == [{"url": f"{store.STORE_URL}/api/v1/write"}]
    assert config["scrape_configs"] == yaml.safe_load(
        (REPO / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"]

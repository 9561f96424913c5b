"""The repository stands alone: no file refers to a path outside it, and every link in the docs
lands on a file inside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([
    re.escape("..") + r"/" + "shared",        # the developers' folder beside the clone
    "DESIGN" + r"\.md",                       # a design note that lives only there
    r"(?<![\w.])/" + "work" + r"/",           # this machine's checkout folder
    r"(?<![\w.])/" + "root" + r"/",           # a home folder
]))
FILE_ANCHOR = re.compile(
    r"Path\(__file__\)(?:\.resolve\(\))?(\.parents\[(\d+)\]|(?:\.parent(?!s))+)")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
        capture_output=True, check=True).stdout.decode().split("\0")
    return [REPO / name for name in listed if name and (REPO / name).is_file()]


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data or path.suffix in {".csv", ".png", ".gz"}:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def outside_references(path: Path, text: str) -> list[str]:
    found = [f"{path.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
             for m in OUTSIDE.finditer(text)]
    if path.suffix == ".py":
        depth = len(path.relative_to(REPO).parts) - 1  # folders between the file and the root
        for match in FILE_ANCHOR.finditer(text):
            ups = (int(match.group(2)) + 1 if match.group(2) is not None
                   else match.group(1).count(".parent"))
            if ups > depth + 1:
                found.append(f"{path.relative_to(REPO)}: {match.group(0)} climbs out of the "
                             "repository")
    if path.suffix == ".md":
        for match in MARKDOWN_LINK.finditer(text):
            target = match.group(1)
            if re.match(r"^[a-z]+:", target) or target.startswith("/"):
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(REPO) or not resolved.exists():
                found.append(f"{path.relative_to(REPO)}: link to {target} leads nowhere in the "
                             "repository")
    return found


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    problems = []
    for path in repository_files():
        text = text_of(path)
        if text is not None:
            problems += outside_references(path, text)
    assert problems == []


@pytest.mark.parametrize(("name", "text"), [
    pytest.param("tests/test_x.py", "F = Path(__file__)" + ".resolve().parents[2] / 'x'",
                 id="a test climbing two folders up"),
    pytest.param("bench/b.py", "R = Path(__file__)" + ".parent.parent.parent",
                 id="a benchmark climbing three folders up"),
    pytest.param("README.md", "see `" + ".." + "/shared/NOTES.md`",
                 id="a document naming the folder beside the clone"),
    pytest.param("docs/a.md", "[design](../../" + "DESIGN" + ".md)",
                 id="a link out of the repository"),
    pytest.param("docs/a.md", "[gone](no-such-page.md)", id="a link to a missing page"),
])
def test_the_check_catches_each_way_out(name: str, text: str) -> None:
    assert outside_references(REPO / name, text) != []


@pytest.mark.parametrize(("name", "text"), [
    pytest.param("tests/test_x.py", "REPO = Path(__file__)" + ".resolve().parent.parent",
                 id="a test naming the repository root"),
    pytest.param("docs/a.md", "[names](catalogue.md) and [home](../README.md)",
                 id="links between the repository's own pages"),
    pytest.param("docs/a.md", "[site](https://prometheus.io/docs/)", id="a web address"),
])
def test_the_check_accepts_what_stays_inside(name: str, text: str) -> None:
    assert outside_references(REPO / name, text) == []


def test_the_release_checklist_names_every_artifact_ci_uploads() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" /
                               "plugin-compat-matrix.yml").read_text())
    uploaded = {step["with"]["name"].split("$")[0] for job in workflow["jobs"].values()
                for step in job["steps"] if str(step.get("uses", "")).startswith(
                    "actions/upload-artifact")}
    assert uploaded == {"harness-", "compatibility-matrix"}
    checklist = (REPO / "docs" / "releasing.md").read_text()
    template = (REPO / "docs" / "templates" / "plugin-release-pull-request.md").read_text()
    for name in uploaded:
        assert name in checklist and name in template, name

"""Transitive dependency resolution against a registry, by resolvelib, with semver ranges.

Only versions that run on the given host (host range and API) are candidates. Failures come back
as values: which dependency, why, and the chain of plugins that asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from resolvelib import AbstractProvider, BaseReporter, ResolutionImpossible, Resolver
from resolvelib.resolvers import ResolutionTooDeep

from runtime.host import HostDescription
from runtime.manifest.model import Manifest
from runtime.registry.index import Registry
from runtime.semver import Version, host_satisfies, parse_version, satisfies

MAX_ROUNDS = 500


@dataclass(frozen=True)
class Candidate:
    name: str
    version: Version
    dependencies: tuple[tuple[str, str], ...]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Requirement:
    name: str
    range: str
    parent: Candidate | None = None


@dataclass(frozen=True)
class Failure:
    """A dependency that could not be resolved: kind is `not_found`, `unsatisfiable`,
    `conflict`, `cycle` or `too_deep`."""

    kind: str
    dependency: str
    via: str
    chains: tuple[tuple[str, ...], ...]
    detail: str


@dataclass
class Resolution:
    pinned: dict[str, Candidate] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)


def runs_on(manifest: Manifest, host: HostDescription) -> bool:
    return host_satisfies(host.version, manifest.host) and host.serves_api(manifest.api)


def _candidate(manifest: Manifest) -> Candidate:
    return Candidate(manifest.name, parse_version(manifest.version),
                     tuple(sorted(manifest.dependencies.items())))


def compatible_candidates(registry: Registry, host: HostDescription, name: str) -> list[Candidate]:
    """Versions of `name` that run on `host`, newest first; memoised on the registry, whose
    index does not change while it is loaded."""
    key = (host.version, tuple(host.api), name)
    cache: dict[Any, list[Candidate]] = registry.memo
    if key not in cache:
        cache[key] = [_candidate(p.manifest) for p in registry.versions(name)
                      if runs_on(p.manifest, host)]
    return cache[key]


class _Provider(AbstractProvider):  # type: ignore[type-arg]
    def __init__(self, root: Manifest, registry: Registry, host: HostDescription) -> None:
        self.root = _candidate(root)
        self.registry = registry
        self.host = host
        self.requirers: dict[str, Candidate] = {}

    def identify(self, requirement_or_candidate: Requirement | Candidate) -> str:
        return requirement_or_candidate.name

    def get_preference(self, identifier: str, resolutions: Mapping[str, Any],
                       candidates: Mapping[str, Iterator[Any]],
                       information: Mapping[str, Iterator[Any]],
                       backtrack_causes: Sequence[Any]) -> Any:
        # As pip does: settle what caused the last backtrack first, then the most constrained
        # name (fewest candidates), so conflicts surface early instead of after a deep search.
        causes = {c.requirement.name for c in backtrack_causes} | {
            c.parent.name for c in backtrack_causes if c.parent is not None}
        return (identifier not in causes, len(self.compatible(identifier)), identifier)

    def narrow_requirement_selection(self, identifiers: Iterable[str],
                                     resolutions: Mapping[str, Any],
                                     candidates: Mapping[str, Iterator[Any]],
                                     information: Mapping[str, Iterator[Any]],
                                     backtrack_causes: Sequence[Any]) -> Iterable[str]:
        causes = {c.requirement.name for c in backtrack_causes}
        chosen = [i for i in identifiers if i in causes]
        return chosen or identifiers

    def compatible(self, name: str) -> list[Candidate]:
        if name == self.root.name:
            return [self.root]
        return compatible_candidates(self.registry, self.host, name)

    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[Requirement]],
                     incompatibilities: Mapping[str, Iterator[Candidate]]) -> list[Candidate]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        return [c for c in self.compatible(identifier)
                if c.version not in bad and all(satisfies(c.version, r.range) for r in reqs)]

    def is_satisfied_by(self, requirement: Requirement, candidate: Candidate) -> bool:
        return satisfies(candidate.version, requirement.range)

    def get_dependencies(self, candidate: Candidate) -> list[Requirement]:
        for name, _ in candidate.dependencies:
            self.requirers.setdefault(name, candidate)
        return [Requirement(name, rng, candidate) for name, rng in candidate.dependencies]

    def chain(self, parent: Candidate | None) -> tuple[str, ...]:
        hops: list[str] = []
        node = parent
        while node is not None and node.ref not in hops:
            hops.append(node.ref)
            node = None if node.name == self.root.name else self.requirers.get(node.name)
        return tuple(reversed(hops))


def resolve(root: Manifest, registry: Registry, host: HostDescription) -> Resolution:
    provider = _Provider(root, registry, host)
    resolver: Resolver[Requirement, Candidate, str] = Resolver(provider, BaseReporter())
    start = Requirement(root.name, f"={root.version}")
    try:
        result = resolver.resolve([start], max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as exc:
        return Resolution(failures=_explain(provider, exc.causes))
    except ResolutionTooDeep:
        return Resolution(failures=[Failure(
            "too_deep", root.name, root.name, (),
            f"gave up after {MAX_ROUNDS} resolution rounds: the dependency graph holds "
            f"conflicts the resolver could not untangle; narrow the ranges of "
            f"{', '.join(sorted(root.dependencies)) or 'the dependencies'}")])
    pinned = dict(result.mapping)
    return Resolution(pinned=pinned, failures=_cycles(provider.root, pinned))


def _via(parents: tuple[str, ...], dependency: str) -> str:
    """The root's direct dependency through which `dependency` was reached."""
    return parents[1].split("@")[0] if len(parents) > 1 else dependency


def _explain(provider: _Provider, causes: Iterable[Any]) -> list[Failure]:
    by_name: dict[str, list[Any]] = {}
    for cause in causes:
        by_name.setdefault(cause.requirement.name, []).append(cause)
    failures = []
    for name, group in sorted(by_name.items()):
        chains = tuple((*provider.chain(c.parent), f"{name} {c.requirement.range}")
                       for c in group)
        via = _via(provider.chain(group[0].parent), name)
        published = provider.registry.versions(name)
        if not published and name != provider.root.name:
            failures.append(Failure("not_found", name, via, chains,
                                    f"'{name}' is not in the registry"))
            continue
        compatible = provider.compatible(name)
        alone = [r.requirement for r in group
                 if not any(satisfies(c.version, r.requirement.range) for c in compatible)]
        if alone:
            req = alone[0]
            in_range = [p for p in published if satisfies(p.version, req.range)]
            why = (f"{len(in_range)} version(s) match '{req.range}' but none runs on host "
                   f"{provider.host.version} with API {', '.join(provider.host.api)}"
                   if in_range else
                   f"no published version matches '{req.range}' (published: "
                   f"{', '.join(str(p.version) for p in published[:8]) or 'none'})")
            failures.append(Failure("unsatisfiable", name, via, chains, why))
        else:
            ranges = " and ".join(f"'{c.requirement.range}'" for c in group)
            failures.append(Failure("conflict", name, via, chains,
                                    f"no version of {name} satisfies {ranges} together"))
    return failures


def _cycles(root: Candidate, pinned: Mapping[str, Candidate]) -> list[Failure]:
    failures: list[Failure] = []
    seen_cycles: set[frozenset[str]] = set()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep, _ in pinned[name].dependencies:
            if dep not in pinned:
                continue
            if state.get(dep) == 1:
                loop = [*path[path.index(dep):], dep]
                key = frozenset(loop)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    refs = tuple(pinned[n].ref for n in loop)
                    via = path[1] if len(path) > 1 else dep
                    failures.append(Failure("cycle", dep, via, (refs,),
                                            " -> ".join(refs)))
            elif dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    visit(root.name)
    return failures

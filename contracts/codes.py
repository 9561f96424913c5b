"""Every code Pluginops reports, once: what it means and its one remedy.

Errors (`contracts.errors.PluginopsError`) and preflight findings carry a `code` from `Code`; a
finding's entry also has its default severity. `docs/error-codes.md` and
`docs/preflight-codes.md` are generated from this table (`pluginops generate`);
`tests/test_codes.py` fails on a code spelled as a string anywhere else, on a code without an
entry, and on an entry no code uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Code(StrEnum):
    ALERTMANAGER_NOT_DISCOVERED = "ALERTMANAGER_NOT_DISCOVERED"
    ALREADY_INSTALLED = "ALREADY_INSTALLED"
    API_VERSION_INVALID = "API_VERSION_INVALID"
    API_VERSION_UNSUPPORTED = "API_VERSION_UNSUPPORTED"
    APPROVALS_DISABLED = "APPROVALS_DISABLED"
    ARTIFACT_MISSING = "ARTIFACT_MISSING"
    ARTIFACT_SIZE_MISMATCH = "ARTIFACT_SIZE_MISMATCH"
    ARTIFACT_TOO_LARGE = "ARTIFACT_TOO_LARGE"
    BAD_CALL = "BAD_CALL"
    BAD_REQUEST = "BAD_REQUEST"
    BINARY_MISSING = "BINARY_MISSING"
    CAPABILITY_MISSING = "CAPABILITY_MISSING"
    DECISION_INVALID = "DECISION_INVALID"
    DENIED = "DENIED"
    DEPENDENCIES_UNCHECKED = "DEPENDENCIES_UNCHECKED"
    DEPENDENCY_CONFLICT = "DEPENDENCY_CONFLICT"
    DEPENDENCY_CYCLE = "DEPENDENCY_CYCLE"
    DEPENDENCY_FAILED = "DEPENDENCY_FAILED"
    DEPENDENCY_NOT_FOUND = "DEPENDENCY_NOT_FOUND"
    DEPENDENCY_RANGE_INVALID = "DEPENDENCY_RANGE_INVALID"
    DEPENDENCY_UNSATISFIABLE = "DEPENDENCY_UNSATISFIABLE"
    EGRESS_FAILED = "EGRESS_FAILED"
    EGRESS_RESOLVE_FAILED = "EGRESS_RESOLVE_FAILED"
    ELEVATION_FORBIDDEN = "ELEVATION_FORBIDDEN"
    ELEVATION_REQUESTED = "ELEVATION_REQUESTED"
    ELEVATION_UNMATCHED = "ELEVATION_UNMATCHED"
    ELEVATION_UNNEEDED = "ELEVATION_UNNEEDED"
    ENTRYPOINT_INVALID = "ENTRYPOINT_INVALID"
    ENTRYPOINT_NOT_FOUND = "ENTRYPOINT_NOT_FOUND"
    ENTRYPOINT_OUTSIDE_PACKAGE = "ENTRYPOINT_OUTSIDE_PACKAGE"
    EXECUTION_DISABLED = "EXECUTION_DISABLED"
    EXPIRY_INVALID = "EXPIRY_INVALID"
    EXTRA_MISSING = "EXTRA_MISSING"
    FORBIDDEN_ROLE = "FORBIDDEN_ROLE"
    FOUR_EYES = "FOUR_EYES"
    GENERATED_STALE = "GENERATED_STALE"
    GIT_BASE_INVALID = "GIT_BASE_INVALID"
    GIT_UNAVAILABLE = "GIT_UNAVAILABLE"
    GOLDEN_INVALID = "GOLDEN_INVALID"
    GOLDEN_MISSING = "GOLDEN_MISSING"
    HAS_DEPENDENTS = "HAS_DEPENDENTS"
    HEADER_INVALID = "HEADER_INVALID"
    HEALTH_CHECK_DENIED = "HEALTH_CHECK_DENIED"
    HEALTH_CHECK_FAILED = "HEALTH_CHECK_FAILED"
    HEALTH_CHECK_UNAVAILABLE = "HEALTH_CHECK_UNAVAILABLE"
    HOST_FILE_INVALID = "HOST_FILE_INVALID"
    HOST_PRERELEASE = "HOST_PRERELEASE"
    HOST_RANGE_INVALID = "HOST_RANGE_INVALID"
    HOST_RANGE_UNSATISFIED = "HOST_RANGE_UNSATISFIED"
    HOST_VERSION_INVALID = "HOST_VERSION_INVALID"
    IMPORT_FAILED = "IMPORT_FAILED"
    INJECTED_FAILURE = "INJECTED_FAILURE"
    INPUT_FILE_UNREADABLE = "INPUT_FILE_UNREADABLE"
    INPUT_NAME_INVALID = "INPUT_NAME_INVALID"
    INPUT_NOT_JSON = "INPUT_NOT_JSON"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INTERRUPTED = "INTERRUPTED"
    JOURNAL_CORRUPT = "JOURNAL_CORRUPT"
    KEY_EXISTS = "KEY_EXISTS"
    KEY_INVALID = "KEY_INVALID"
    LISTEN_FAILED = "LISTEN_FAILED"
    LISTEN_INVALID = "LISTEN_INVALID"
    MANIFEST_FIELD_INVALID = "MANIFEST_FIELD_INVALID"
    MANIFEST_FIELD_MISSING = "MANIFEST_FIELD_MISSING"
    MANIFEST_FIELD_TYPE = "MANIFEST_FIELD_TYPE"
    MANIFEST_FIELD_UNKNOWN = "MANIFEST_FIELD_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_MISMATCH = "MANIFEST_MISMATCH"
    MANIFEST_NOT_JSON = "MANIFEST_NOT_JSON"
    MANIFEST_NOT_OBJECT = "MANIFEST_NOT_OBJECT"
    MANIFEST_TOO_LARGE = "MANIFEST_TOO_LARGE"
    MANIFEST_UNREADABLE = "MANIFEST_UNREADABLE"
    MANIFEST_VERSION_UNSUPPORTED = "MANIFEST_VERSION_UNSUPPORTED"
    METRICS_DISABLED = "METRICS_DISABLED"
    MODEL_FAILED = "MODEL_FAILED"
    MODEL_NOT_CONFIGURED = "MODEL_NOT_CONFIGURED"
    NOT_INSTALLED = "NOT_INSTALLED"
    NOT_READY = "NOT_READY"
    NO_COMPATIBLE_VERSION = "NO_COMPATIBLE_VERSION"
    NO_MATCHING_VERSION = "NO_MATCHING_VERSION"
    NO_PREVIOUS_VERSION = "NO_PREVIOUS_VERSION"
    NO_SUCH_REQUEST = "NO_SUCH_REQUEST"
    NO_TELEMETRY = "NO_TELEMETRY"
    OPENMETRICS_INVALID = "OPENMETRICS_INVALID"
    OPERATION_IN_PROGRESS = "OPERATION_IN_PROGRESS"
    OUTPUT_UNWRITABLE = "OUTPUT_UNWRITABLE"
    PACKAGE_ENTRY_REFUSED = "PACKAGE_ENTRY_REFUSED"
    PACKAGE_TOO_LARGE = "PACKAGE_TOO_LARGE"
    PARQUET_CACHE_INVALID = "PARQUET_CACHE_INVALID"
    PERIOD_INVALID = "PERIOD_INVALID"
    PERMISSION_NOT_IN_PROFILE = "PERMISSION_NOT_IN_PROFILE"
    PLUGIN_NAME_INVALID = "PLUGIN_NAME_INVALID"
    PLUGIN_NOT_IN_REGISTRY = "PLUGIN_NOT_IN_REGISTRY"
    POLICY_INVALID = "POLICY_INVALID"
    POLICY_VERSION_UNSUPPORTED = "POLICY_VERSION_UNSUPPORTED"
    PREFLIGHT_FAILED = "PREFLIGHT_FAILED"
    PROCESS_EXITED = "PROCESS_EXITED"
    PROMETHEUS_QUERY_FAILED = "PROMETHEUS_QUERY_FAILED"
    PROMETHEUS_UNREACHABLE = "PROMETHEUS_UNREACHABLE"
    PROTOCOL = "PROTOCOL"
    PUBLISH_PREFLIGHT_FAILED = "PUBLISH_PREFLIGHT_FAILED"
    PUBLISH_VERSION_EXISTS = "PUBLISH_VERSION_EXISTS"
    RANGE_INVALID = "RANGE_INVALID"
    REASON_REQUIRED = "REASON_REQUIRED"
    REGISTRY_INDEX_INVALID = "REGISTRY_INDEX_INVALID"
    REGISTRY_NOT_FOUND = "REGISTRY_NOT_FOUND"
    REGISTRY_REQUIRED = "REGISTRY_REQUIRED"
    RELEASE_GATE_FAILED = "RELEASE_GATE_FAILED"
    RELEASE_GATE_MISSING = "RELEASE_GATE_MISSING"
    RELEASE_GATE_UNTRUSTED = "RELEASE_GATE_UNTRUSTED"
    ROLE_INVALID = "ROLE_INVALID"
    ROLLBACK_TARGET_MISSING = "ROLLBACK_TARGET_MISSING"
    ROUTING_INVALID = "ROUTING_INVALID"
    RUNTIME_EXITED = "RUNTIME_EXITED"
    RUNTIME_NOT_READY = "RUNTIME_NOT_READY"
    SANDBOX_IDENTITIES_EXHAUSTED = "SANDBOX_IDENTITIES_EXHAUSTED"
    SANDBOX_IDENTITY_UNREACHABLE = "SANDBOX_IDENTITY_UNREACHABLE"
    SANDBOX_LAYER_UNAVAILABLE = "SANDBOX_LAYER_UNAVAILABLE"
    SCENARIO_NEEDS_LOCAL = "SCENARIO_NEEDS_LOCAL"
    SCOPE_INVALID = "SCOPE_INVALID"
    SETTINGS_INVALID = "SETTINGS_INVALID"
    SHARD_INVALID = "SHARD_INVALID"
    SHA256_MISMATCH = "SHA256_MISMATCH"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNATURE_MISSING = "SIGNATURE_MISSING"
    SLOTH_SLI_UNSUPPORTED = "SLOTH_SLI_UNSUPPORTED"
    SLOTH_SPEC_INVALID = "SLOTH_SPEC_INVALID"
    SLOTH_VERSION_UNSUPPORTED = "SLOTH_VERSION_UNSUPPORTED"
    SLO_PERIODS_DIFFER = "SLO_PERIODS_DIFFER"
    SLO_SPEC_INVALID = "SLO_SPEC_INVALID"
    SOURCE_REQUIRED = "SOURCE_REQUIRED"
    SOURCE_UNREADABLE = "SOURCE_UNREADABLE"
    STACK_SETUP_FAILED = "STACK_SETUP_FAILED"
    STEP_INVALID = "STEP_INVALID"
    TIME_INVALID = "TIME_INVALID"
    TOKEN_UNKNOWN = "TOKEN_UNKNOWN"
    TOKEN_UNREADABLE = "TOKEN_UNREADABLE"
    TOOL_FAILED = "TOOL_FAILED"
    TOOL_INPUT_INVALID = "TOOL_INPUT_INVALID"
    TOOL_UNAVAILABLE = "TOOL_UNAVAILABLE"
    TRANSACTION_NOT_FOUND = "TRANSACTION_NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    UNKNOWN_API = "UNKNOWN_API"
    UNSAFE_ARCHIVE = "UNSAFE_ARCHIVE"
    UNTRUSTED_KEY = "UNTRUSTED_KEY"
    USER_INVALID = "USER_INVALID"
    VERSION_FOLDER_DAMAGED = "VERSION_FOLDER_DAMAGED"
    VERSION_INVALID = "VERSION_INVALID"
    VERSION_SPEC_INVALID = "VERSION_SPEC_INVALID"
    WINDOW_INVALID = "WINDOW_INVALID"
    WORKER_START_FAILED = "WORKER_START_FAILED"


@dataclass(frozen=True)
class CodeInfo:
    code: Code
    meaning: str
    remedy: str
    severity: Severity | None = None  # findings only


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

# Preflight findings, in the order a reader meets them.
FINDINGS: tuple[CodeInfo, ...] = (
    CodeInfo(Code.MANIFEST_UNREADABLE,
             "The manifest file does not exist or cannot be read.",
             "Pass a plugin folder holding `plugin.json`, or the path of the manifest itself.", E),
    CodeInfo(Code.MANIFEST_TOO_LARGE,
             "The manifest is larger than the 256 KiB cap.",
             "Keep code and data in the package; the manifest only describes the plugin.", E),
    CodeInfo(Code.MANIFEST_NOT_JSON,
             "The manifest is not UTF-8 JSON (syntax error, binary data, duplicate keys, NaN).",
             "Fix the JSON at the line and column given; `python -m json.tool` shows the spot.", E),
    CodeInfo(Code.MANIFEST_NOT_OBJECT,
             "The manifest's top level is not a JSON object.",
             'Wrap the fields in one object: `{"name": ..., "version": ...}`.', E),
    CodeInfo(Code.MANIFEST_VERSION_UNSUPPORTED,
             "`manifest_version` names a manifest format this runtime does not know.",
             "Use one of the supported manifest versions, or upgrade the runtime.", E),
    CodeInfo(Code.MANIFEST_FIELD_MISSING,
             "A required field is absent.",
             "Add the field; `schemas/plugin-manifest.schema.json` lists them.", E),
    CodeInfo(Code.MANIFEST_FIELD_UNKNOWN,
             "A field the manifest format does not define.",
             "Remove it, or check its spelling against the schema.", E),
    CodeInfo(Code.MANIFEST_FIELD_TYPE,
             "A field has the wrong JSON type.",
             "Give the field the type the schema names (string, integer, list, object...).", E),
    CodeInfo(Code.MANIFEST_FIELD_INVALID,
             "A field has the right type but a value outside what it allows.",
             "Change the value to one the message and the schema allow.", E),
    CodeInfo(Code.VERSION_INVALID,
             "`version` is not a SemVer 2.0.0 version.",
             "Use MAJOR.MINOR.PATCH with optional -prerelease and +build, e.g. `1.4.0`.", E),
    CodeInfo(Code.HOST_RANGE_INVALID,
             "`host` is not an npm semver range.",
             "Write a range such as `^2.3.0`, `~2.4`, `>=2.1 <4` or `2.x`.", E),
    CodeInfo(Code.HOST_RANGE_UNSATISFIED,
             "The host's version is outside the plugin's `host` range.",
             "Use a plugin version built for this host, or upgrade the host.", E),
    CodeInfo(Code.HOST_PRERELEASE,
             "The host is a prerelease; its release version was matched against `host`.",
             "Nothing to do for a test host; production hosts run releases.", INFO),
    CodeInfo(Code.API_VERSION_INVALID,
             "`api` is not `MAJOR.MINOR`.",
             "Name the plugin API contract the plugin was built against, e.g. `4.1`.", E),
    CodeInfo(Code.API_VERSION_UNSUPPORTED,
             "The host serves no API with the plugin's major and at least its minor.",
             "Build against an API version the host serves, or upgrade the host.", E),
    CodeInfo(Code.ENTRYPOINT_INVALID,
             "`entrypoint` is not `module:function`.",
             "Name a module inside the package and a function in it, e.g. `plugin.main:run`.", E),
    CodeInfo(Code.ENTRYPOINT_OUTSIDE_PACKAGE,
             "`entrypoint` resolves to a module outside the plugin's package.",
             "Point the entrypoint at a module shipped inside the plugin folder.", E),
    CodeInfo(Code.ENTRYPOINT_NOT_FOUND,
             "The entrypoint's module or function is not in the package.",
             "Add the module file and define the function at its top level.", E),
    CodeInfo(Code.CAPABILITY_MISSING,
             "The plugin requires a capability the host does not offer.",
             "Drop the requirement, or run on a host that offers it (`pluginops host`).", E),
    CodeInfo(Code.PERMISSION_NOT_IN_PROFILE,
             "A declared permission is beyond the plugin type's sandbox profile and not requested "
             "under `sandbox.elevated`.",
             "Remove the permission, or request it under `/sandbox/elevated` with a "
             "justification.", E),
    CodeInfo(Code.ELEVATION_REQUESTED,
             "The plugin asks for a privilege beyond its type's profile: it will not be activated "
             "until an admin approves it.",
             "Ask an admin to run `pluginops approve` for the scope named.", W),
    CodeInfo(Code.ELEVATION_UNMATCHED,
             "An elevated request names nothing that `permissions` declares.",
             "Declare the permission too, or drop the request.", E),
    CodeInfo(Code.ELEVATION_UNNEEDED,
             "An elevated request asks for what the type's profile already grants.",
             "Drop the request: it would only add an approval step.", W),
    CodeInfo(Code.DEPENDENCY_RANGE_INVALID,
             "A dependency's range is not an npm semver range.",
             "Write a range such as `^1.2.0`.", E),
    CodeInfo(Code.DEPENDENCY_NOT_FOUND,
             "A dependency is not in the registry at all.",
             "Publish the dependency first, check its name, or point `--registry` elsewhere.", E),
    CodeInfo(Code.DEPENDENCY_UNSATISFIABLE,
             "No published version of a dependency satisfies its range on this host.",
             "Widen the range, publish a matching version, or use a compatible host.", E),
    CodeInfo(Code.DEPENDENCY_CONFLICT,
             "Two requirements on one dependency cannot both be met; the chains show who asks.",
             "Align the ranges along the chains shown, or update the plugin that pins the old "
             "one.", E),
    CodeInfo(Code.DEPENDENCY_CYCLE,
             "The resolved dependencies form a cycle.",
             "Break the cycle: move the shared part into a plugin both can depend on.", E),
    CodeInfo(Code.DEPENDENCIES_UNCHECKED,
             "The plugin has dependencies but no registry was given to resolve them.",
             "Pass `--registry DIR` (or set PLUGINOPS_REGISTRY).", W),
)

# Errors, alphabetically.
ERRORS: tuple[CodeInfo, ...] = (
    CodeInfo(Code.ALERTMANAGER_NOT_DISCOVERED,
             "Prometheus lists no Alertmanager to send alerts to.",
             "Check the `alerting` section of the Prometheus configuration (`pluginops generate` "
             "writes it)."),
    CodeInfo(Code.ALREADY_INSTALLED,
             "The plugin is already installed at another version.",
             "Use `pluginops update NAME[@VERSION]` to change its version."),
    CodeInfo(Code.APPROVALS_DISABLED,
             "This API serves no approvals store.",
             "Start the API with `pluginops serve`, which wires one."),
    CodeInfo(Code.ARTIFACT_MISSING,
             "The registry index lists an artifact that is not in the registry.",
             "Republish the plugin into the registry."),
    CodeInfo(Code.ARTIFACT_SIZE_MISMATCH,
             "The artifact's size differs from the one the index records.",
             "The registry copy was altered: republish the plugin."),
    CodeInfo(Code.ARTIFACT_TOO_LARGE,
             "The artifact is larger than the install cap.",
             "Ship a smaller plugin (code and data it needs only)."),
    CodeInfo(Code.BAD_CALL,
             "A plugin called a host API with arguments it does not take.",
             'Call the plugin API as docs/architecture.md ("The plugin API") describes.'),
    CodeInfo(Code.BAD_REQUEST,
             "The request body or a field in it is malformed.",
             "Send the JSON object the endpoint documents (`GET /` lists them)."),
    CodeInfo(Code.BINARY_MISSING,
             "A program the live stack needs is not installed.",
             "Run `make test` once: it installs the Debian packages prometheus and "
             "prometheus-alertmanager."),
    CodeInfo(Code.DECISION_INVALID,
             "An approval decision other than `approved` or `denied`.",
             "Decide `approved` or `denied`."),
    CodeInfo(Code.DENIED,
             "Plugin code did what its sandbox profile does not grant, at import time.",
             "Remove the operation, or declare the permission and have it approved."),
    CodeInfo(Code.DEPENDENCY_FAILED,
             "A dependency could not be brought in with the plugin.",
             "Run `pluginops preflight` on the plugin to see the dependency chain."),
    CodeInfo(Code.EGRESS_FAILED,
             "The egress broker could not complete a granted HTTP request.",
             "Check that the granted host answers; the broker's timeout is `egress.timeout_s` in "
             "runtime.yaml."),
    CodeInfo(Code.EGRESS_RESOLVE_FAILED,
             "The egress broker could not resolve a granted host name.",
             "Check the name, or pin it in `egress.resolve` in runtime.yaml."),
    CodeInfo(Code.ELEVATION_FORBIDDEN,
             "The org policy forbids a scope the manifest requests.",
             "Drop the request from the manifest, or change the policy (policy.yaml)."),
    CodeInfo(Code.EXECUTION_DISABLED,
             "This API runs no plugins.",
             "Start the API with `pluginops serve`, which wires an executor."),
    CodeInfo(Code.EXPIRY_INVALID,
             "An approval expiry that is not a time to come.",
             "Give seconds (API), days (UI), or 90m, 12h, 30d or an RFC 3339 time with its "
             "offset (CLI)."),
    CodeInfo(Code.EXTRA_MISSING,
             "The command needs an optional extra that is not installed.",
             "`pip install 'pluginops[EXTRA]'` with the extra the message names."),
    CodeInfo(Code.FORBIDDEN_ROLE,
             "The caller's role may not make this request.",
             "Use a token with the role the message names (`pluginops token create`)."),
    CodeInfo(Code.FOUR_EYES,
             "The person who asked for an install cannot also decide on its privileges.",
             "Another admin must decide."),
    CodeInfo(Code.GENERATED_STALE,
             "A generated file differs from what the code generates.",
             "Run `pluginops generate` and commit the result."),
    CodeInfo(Code.GIT_BASE_INVALID,
             "The git revision to compare with does not exist here.",
             "Pass a revision that exists, e.g. origin/main; in CI fetch it first (fetch-depth: "
             "0)."),
    CodeInfo(Code.GIT_UNAVAILABLE,
             "git is not installed.",
             "Install git, or pass the manifests by path."),
    CodeInfo(Code.GOLDEN_INVALID,
             "The plugin's golden file is not valid.",
             "Fix golden.json as docs/harness.md describes."),
    CodeInfo(Code.GOLDEN_MISSING,
             "The plugin has no golden file.",
             "Add golden.json with at least one case: an input and the output it must give "
             "(docs/harness.md)."),
    CodeInfo(Code.HAS_DEPENDENTS,
             "Installed plugins depend on the one to uninstall.",
             "Uninstall the dependents the message names first."),
    CodeInfo(Code.HEADER_INVALID,
             "An extra request header that is not `Name: value`.",
             "Write e.g. --header 'X-Scope-OrgID: team-a'; the Authorization header has "
             "--authorization."),
    CodeInfo(Code.HEALTH_CHECK_DENIED,
             "The health hook or import-time code did what the plugin's sandbox profile does not "
             "grant.",
             "Remove that operation from the hook, or declare the permission it needs and have "
             "it approved."),
    CodeInfo(Code.HEALTH_CHECK_FAILED,
             "The plugin's health hook failed, timed out or could not be imported.",
             "Read the transaction log the message names; fix the hook or the import and publish "
             "a new version."),
    CodeInfo(Code.HEALTH_CHECK_UNAVAILABLE,
             "The installer has no sandbox to run health checks in.",
             "Build the installer with a health door (`Executor.health`), as `pluginops` does."),
    CodeInfo(Code.HOST_FILE_INVALID,
             "The host description file is missing or malformed.",
             "Pass an existing host description (examples/hosts/ has some)."),
    CodeInfo(Code.HOST_VERSION_INVALID,
             "A host version that is not SemVer.",
             "Give a version such as 2.7.1."),
    CodeInfo(Code.IMPORT_FAILED,
             "The plugin's module raised an error while it was imported.",
             "Run the module's import locally; fix the error and publish a new version."),
    CodeInfo(Code.INJECTED_FAILURE,
             "A failure injected on purpose (fault injection, the golden harness).",
             "Nothing to fix: the run asked for it."),
    CodeInfo(Code.INPUT_FILE_UNREADABLE,
             "An input file given to a plugin cannot be read.",
             "Pass a readable file."),
    CodeInfo(Code.INPUT_NAME_INVALID,
             "An input file name that leaves the inputs folder.",
             "Use plain relative file names."),
    CodeInfo(Code.INPUT_NOT_JSON,
             "The execution's input is not JSON.",
             'Quote it for the shell: --input \'{"text": "hi"}\'.'),
    CodeInfo(Code.INTERNAL_ERROR,
             "A bug in Pluginops.",
             "Rerun with PLUGINOPS_DEBUG=1 and report the traceback."),
    CodeInfo(Code.INTERRUPTED,
             "An operation's process ended before it finished; recovery restored the last "
             "committed state.",
             "Run the same operation again."),
    CodeInfo(Code.JOURNAL_CORRUPT,
             "The journal names a folder outside the state it may remove.",
             "Inspect the journal (`pluginops history`) before anything else."),
    CodeInfo(Code.KEY_EXISTS,
             "A signing key is already there.",
             "Keep it, or pass --force to replace it."),
    CodeInfo(Code.KEY_INVALID,
             "A file that should hold an Ed25519 key does not.",
             "Create one with `pluginops keygen`."),
    CodeInfo(Code.LISTEN_FAILED,
             "The evaluator cannot listen on the address given.",
             "Choose a free port or address."),
    CodeInfo(Code.LISTEN_INVALID,
             "A listen address that is not HOST:PORT.",
             "Write e.g. 127.0.0.1:9464."),
    CodeInfo(Code.MANIFEST_INVALID,
             "The plugin's manifest cannot be read.",
             "Run `pluginops preflight PLUGIN_DIR` for the findings."),
    CodeInfo(Code.MANIFEST_MISMATCH,
             "The manifest inside the artifact differs from the one the index records.",
             "Republish the plugin."),
    CodeInfo(Code.METRICS_DISABLED,
             "This API exports no metrics.",
             "Start the API with `pluginops serve`, which wires a registry."),
    CodeInfo(Code.MODEL_FAILED,
             "The model API did not answer the plugin's request.",
             "Check `model.base_url` in runtime.yaml and that the model service is up."),
    CodeInfo(Code.MODEL_NOT_CONFIGURED,
             "A plugin asked for the model and this runtime has none.",
             "Set `model.base_url` in runtime.yaml."),
    CodeInfo(Code.NOT_INSTALLED,
             "The plugin is not installed.",
             "`pluginops status` lists what is installed; `pluginops install NAME` installs it."),
    CodeInfo(Code.NOT_READY,
             "A process of the live stack did not become ready in time.",
             "Read the log the message names."),
    CodeInfo(Code.NO_COMPATIBLE_VERSION,
             "Versions match the request but none runs on this host.",
             "Pick a version built for this host (the message lists what is published)."),
    CodeInfo(Code.NO_MATCHING_VERSION,
             "No published version matches the version or range asked for.",
             "Ask for one of the published versions the message lists."),
    CodeInfo(Code.NO_PREVIOUS_VERSION,
             "The plugin has no earlier version to roll back to.",
             "Name the version: `pluginops rollback NAME --to VERSION`."),
    CodeInfo(Code.NO_SUCH_REQUEST,
             "The plugin has not requested the scope being decided.",
             "Decide one of the requested scopes the message lists."),
    CodeInfo(Code.NO_TELEMETRY,
             "The telemetry source holds no plugin executions in the range evaluated.",
             "Check --at and the source; the runtime exports executions once a plugin runs."),
    CodeInfo(Code.OPENMETRICS_INVALID,
             "The OpenMetrics file is malformed at the line given.",
             "Write one sample per line as `name{labels} value timestamp` and end the file with "
             "`# EOF`."),
    CodeInfo(Code.OPERATION_IN_PROGRESS,
             "Another operation holds the plugin's lock.",
             "Wait for it to finish (`pluginops status` shows it), then retry."),
    CodeInfo(Code.OUTPUT_UNWRITABLE,
             "A file cannot be written where it was asked for.",
             "Choose a folder you can write to."),
    CodeInfo(Code.PACKAGE_ENTRY_REFUSED,
             "A plugin folder holds a link, device or socket.",
             "Replace the link with the file it points to."),
    CodeInfo(Code.PACKAGE_TOO_LARGE,
             "A plugin folder holds more files or bytes than a package may.",
             "Ship fewer files."),
    CodeInfo(Code.PARQUET_CACHE_INVALID,
             "A folder that is not a Pluginops Parquet cache.",
             "Create one with `pluginops collect --out DIR`."),
    CodeInfo(Code.PERIOD_INVALID,
             "An SLO period that is not a whole number of days.",
             "Write e.g. --period 28d."),
    CodeInfo(Code.PLUGIN_NAME_INVALID,
             "A plugin name outside the allowed form.",
             "Use NAME or NAME@VERSION_OR_RANGE (lowercase letters, digits and dashes)."),
    CodeInfo(Code.PLUGIN_NOT_IN_REGISTRY,
             "The registry has no plugin of that name.",
             "Check the name, or publish the plugin first."),
    CodeInfo(Code.POLICY_INVALID,
             "The org policy is not valid YAML or does not follow the schema.",
             "Fix the field the message names (docs/sandbox.md); `pluginops policy check` "
             "validates it."),
    CodeInfo(Code.POLICY_VERSION_UNSUPPORTED,
             "The org policy does not say `version: 1`.",
             "Start the document with `version: 1`."),
    CodeInfo(Code.PREFLIGHT_FAILED,
             "The plugin failed preflight at install.",
             "Follow the finding's next step; `pluginops preflight` lists every finding."),
    CodeInfo(Code.PROCESS_EXITED,
             "A process of the live stack exited.",
             "Read the log the message names."),
    CodeInfo(Code.PROMETHEUS_QUERY_FAILED,
             "Prometheus refused a query.",
             "Check the query, the URL and the Authorization header."),
    CodeInfo(Code.PROMETHEUS_UNREACHABLE,
             "Prometheus did not answer after the retries.",
             "Check that Prometheus is up and reachable, or raise --timeout."),
    CodeInfo(Code.PROTOCOL,
             "A sandbox worker and the runtime disagreed on the protocol.",
             "A bug: report it with the worker log."),
    CodeInfo(Code.PUBLISH_PREFLIGHT_FAILED,
             "The plugin failed preflight at publish.",
             "Fix the findings `pluginops preflight PLUGIN_DIR` lists."),
    CodeInfo(Code.PUBLISH_VERSION_EXISTS,
             "The version is already published with different content.",
             "Bump the version in plugin.json: published versions are immutable."),
    CodeInfo(Code.RANGE_INVALID,
             "A time range whose end is not after its start.",
             "Give an end after the start."),
    CodeInfo(Code.REASON_REQUIRED,
             "An action that must say why was given no reason.",
             "Say why, in a sentence."),
    CodeInfo(Code.REGISTRY_INDEX_INVALID,
             "The registry's index.json is not a registry index.",
             "Restore index.json from the registry's history or backup."),
    CodeInfo(Code.REGISTRY_NOT_FOUND,
             "No registry folder where one was named.",
             "Pass the folder `pluginops publish` writes to."),
    CodeInfo(Code.REGISTRY_REQUIRED,
             "No registry to install from.",
             "Pass --registry DIR or set PLUGINOPS_REGISTRY."),
    CodeInfo(Code.RELEASE_GATE_FAILED,
             "The release gate recorded for these bytes failed.",
             "Fix what `pluginops harness` reports, run `pluginops release-gate` again, then "
             "publish."),
    CodeInfo(Code.RELEASE_GATE_MISSING,
             "No release gate record for these bytes on this host.",
             "Run `pluginops release-gate PLUGIN_DIR` before `pluginops publish` "
             "(docs/releasing.md)."),
    CodeInfo(Code.RELEASE_GATE_UNTRUSTED,
             "The release gate record was not made by this home's gate key.",
             "Run `pluginops release-gate` on this host; records are not portable."),
    CodeInfo(Code.ROLE_INVALID,
             "A role other than viewer, operator or admin.",
             "Use viewer, operator or admin."),
    CodeInfo(Code.ROLLBACK_TARGET_MISSING,
             "The version to roll back to is no longer on disk.",
             "`pluginops update NAME@VERSION` fetches it from the registry."),
    CodeInfo(Code.ROUTING_INVALID,
             "The Alertmanager routing file is malformed.",
             "See alerts/routing.yaml for the fields."),
    CodeInfo(Code.RUNTIME_EXITED,
             "The runtime of the live stack exited.",
             "Read its log."),
    CodeInfo(Code.RUNTIME_NOT_READY,
             "The runtime of the live stack did not become ready in time.",
             "Read the runtime log."),
    CodeInfo(Code.SANDBOX_IDENTITIES_EXHAUSTED,
             "Every worker uid of the configured range is assigned.",
             "Widen `sandbox.worker_uids.count` in runtime.yaml."),
    CodeInfo(Code.SANDBOX_IDENTITY_UNREACHABLE,
             "A plugin's worker uid cannot reach a folder it needs.",
             "Let other users enter the folder the message names (chmod o+x), or keep "
             "PLUGINOPS_HOME and the interpreter outside private folders."),
    CodeInfo(Code.SANDBOX_LAYER_UNAVAILABLE,
             "A sandbox layer runtime.yaml requires is missing on this machine.",
             "Run `pluginops host` to see which layer is missing (docs/sandbox.md says what each "
             "needs)."),
    CodeInfo(Code.SCENARIO_NEEDS_LOCAL,
             "The fault scenario needs a stack this command started.",
             "Run it with --local, or stop your runtime by hand."),
    CodeInfo(Code.SCOPE_INVALID,
             "A scope that is not KIND:TARGET.",
             "Write KIND:TARGET, e.g. network:api.example.com."),
    CodeInfo(Code.SETTINGS_INVALID,
             "runtime.yaml is not valid.",
             "Fix the field the message names (docs/sandbox.md describes runtime.yaml)."),
    CodeInfo(Code.SHARD_INVALID,
             "A shard that is not K/N with 0 <= K < N.",
             "Write e.g. --shard 0/3 for the first of three evaluator replicas."),
    CodeInfo(Code.SHA256_MISMATCH,
             "The artifact's sha256 differs from the index's.",
             "The artifact was altered or truncated: republish it."),
    CodeInfo(Code.SIGNATURE_INVALID,
             "The artifact's signature does not match it.",
             "Do not install it; republish from a trusted source."),
    CodeInfo(Code.SIGNATURE_MISSING,
             "The artifact is not signed.",
             "Publish it with a key (`pluginops keygen`, then `pluginops publish --key`), or "
             "allow unsigned installs by policy."),
    CodeInfo(Code.SLOTH_SLI_UNSUPPORTED,
             "A Sloth SLI kind the importer does not convert.",
             "Rewrite the SLI as error_query/total_query."),
    CodeInfo(Code.SLOTH_SPEC_INVALID,
             "A Sloth document that does not follow Sloth's schema.",
             "Check it with Sloth's validator."),
    CodeInfo(Code.SLOTH_VERSION_UNSUPPORTED,
             "A Sloth document version other than prometheus/v1.",
             "Convert it to prometheus/v1."),
    CodeInfo(Code.SLO_PERIODS_DIFFER,
             "SLOs of one kind use different periods.",
             "Give every SLO of that kind the same timeWindow."),
    CodeInfo(Code.SLO_SPEC_INVALID,
             "An OpenSLO document the generator does not accept.",
             "See alerts/slos/README.md for the accepted form."),
    CodeInfo(Code.SOURCE_REQUIRED,
             "Not exactly one telemetry source was given.",
             "Pass --prometheus URL, --openmetrics FILE or --parquet DIR."),
    CodeInfo(Code.SOURCE_UNREADABLE,
             "The telemetry source does not exist or cannot be read.",
             "Pass an existing file or folder."),
    CodeInfo(Code.STACK_SETUP_FAILED,
             "A command setting up the live stack failed.",
             "Run the same command by hand to see why."),
    CodeInfo(Code.STEP_INVALID,
             "A query step that is not a positive number of seconds.",
             "Give a positive number of seconds."),
    CodeInfo(Code.TIME_INVALID,
             "A time without a time zone, or unreadable.",
             "Add Z or an offset, e.g. 2026-11-25T12:00:00Z."),
    CodeInfo(Code.TOKEN_UNKNOWN,
             "No API token with that id.",
             "`pluginops token list` shows the ids."),
    CodeInfo(Code.TOKEN_UNREADABLE,
             "The token file cannot be read.",
             "Create it with `pluginops token create ... > FILE`."),
    CodeInfo(Code.TOOL_FAILED,
             "A host tool failed while serving a plugin.",
             "Check the tool's back-end (runtime.yaml `tools`)."),
    CodeInfo(Code.TOOL_INPUT_INVALID,
             "A plugin gave a host tool input it does not take.",
             'Call the tool as docs/architecture.md ("The plugin API") describes.'),
    CodeInfo(Code.TOOL_UNAVAILABLE,
             "A plugin asked for a tool this host does not offer.",
             "Use one of the tools the message lists, or configure it in runtime.yaml."),
    CodeInfo(Code.TRANSACTION_NOT_FOUND,
             "No transaction with that id.",
             "`GET /v1/history` lists them."),
    CodeInfo(Code.UNAUTHENTICATED,
             "The request carries no valid API token.",
             "Send `Authorization: Bearer TOKEN` (`pluginops token create`)."),
    CodeInfo(Code.UNKNOWN_API,
             "A plugin called a host API that does not exist.",
             'Use the plugin API docs/architecture.md ("The plugin API") describes.'),
    CodeInfo(Code.UNSAFE_ARCHIVE,
             "The artifact holds an entry that would land outside its folder, or is not a regular "
             "file.",
             "Do not install it; publish plugins with `pluginops publish`."),
    CodeInfo(Code.UNTRUSTED_KEY,
             "The artifact is signed by a key this home does not trust.",
             "Add the publisher's signing.pub to <home>/keys/trusted/ or pass --trust FILE."),
    CodeInfo(Code.USER_INVALID,
             "A user name outside the allowed form.",
             "Use letters, digits and . _ @ -, up to 64 characters."),
    CodeInfo(Code.VERSION_FOLDER_DAMAGED,
             "An installed version's files differ from what was installed.",
             "`pluginops update NAME@VERSION` installs it afresh."),
    CodeInfo(Code.VERSION_SPEC_INVALID,
             "A version or range that is neither.",
             "Write e.g. acme-http@1.4.0 or acme-http@^1.4."),
    CodeInfo(Code.WINDOW_INVALID,
             "A window that is not a duration of one unit.",
             "Write e.g. 7d or 30d."),
    CodeInfo(Code.WORKER_START_FAILED,
             "A sandbox worker exited before it was ready.",
             "Read the worker log the message names."),
)

TABLE: dict[Code, CodeInfo] = {info.code: info for info in (*FINDINGS, *ERRORS)}


def remedy(code: str) -> str:
    """The code's remedy; empty for a code outside the table (`HTTP_404` and the like)."""
    found = TABLE.get(Code(code)) if code in Code.__members__ else None
    return found.remedy if found else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_errors_markdown() -> str:
    """docs/error-codes.md, stamped as generated."""
    lines = [
        "<!-- Generated by `pluginops generate` from contracts/codes.py. DO NOT EDIT. -->",
        "# Error codes",
        "",
        "Every error Pluginops reports (CLI, JSON API, UI, transaction journal) carries a stable",
        "`code`, a `message`, a `where` and a `next_step`; the next step is the remedy below "
        "unless",
        "the message's context gives a more precise one. The JSON API also answers `HTTP_<status>`",
        "for requests its routes do not take (an unknown path, a wrong method). Preflight's "
        "finding",
        "codes are in [preflight-codes.md](preflight-codes.md).",
        "",
        "| code | meaning | remedy |",
        "|---|---|---|",
    ]
    lines += [f"| `{c.code}` | {_cell(c.meaning)} | {_cell(c.remedy)} |" for c in ERRORS]
    return "\n".join(lines) + "\n"

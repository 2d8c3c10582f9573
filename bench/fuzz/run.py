"""API fuzzing: Schemathesis over ``/openapi.json`` against a real Soberana server.

One run starts, in a temporary directory, a fresh SQLite installation (migrated, demo data and the
demo collection seeded), a minimal OpenAI-compatible upstream (``soberana.devtools.upstream``) for
the chat and rerank models, and ``soberana serve``. It then creates a few objects through the API
(a sandbox organisation, a user, a service account, a spare key, a collection with a document, a
citizen conversation with a hand-off case…) whose ids are offered to the generator beside random
values, and runs Schemathesis twice:

- **administrator** — every operation in the schema, with a platform administrator's key that has
  the admin, audit, inference and knowledge scopes;
- **anonymous** — the operations that need no key (the citizen assistant, probes), without one.

Phases: examples, coverage (boundary values, missing and wrong-typed parameters, unexpected
methods), fuzzing (random valid and invalid data) and stateful (sequences following the links
Schemathesis infers between operations). The headline check is ``not_a_server_error``; the others
(status codes, content types, response schemas and headers, validation, authentication…) are
reported separately as schema violations.

    make bench NAME=fuzz
    FUZZ_SEED=7 FUZZ_MAX_EXAMPLES=10 make bench NAME=fuzz   # another seed, a shorter run

Results: ``bench/results/fuzz.json`` (``summary``: operations exercised, requests, server errors,
schema violations, seed) and ``bench/results/fuzz.md``. See ``bench/fuzz/README.md``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from base64 import b64decode
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from _common import write_results  # noqa: E402

PYTHON = sys.executable
SCHEMATHESIS = Path(PYTHON).parent / "st"
SEED = int(os.environ.get("FUZZ_SEED", "19"))
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "30"))
STATEFUL_MAX_STEPS = int(os.environ.get("FUZZ_STATEFUL_MAX_STEPS", "10"))
# A safety net only: a pass that runs longer is stopped and what it recorded is still reported.
PASS_TIMEOUT_S = int(os.environ.get("FUZZ_PASS_TIMEOUT", "900"))
# How often a parameter named below gets one of the ids created for the run instead of a random value.
KNOWN_ID_PROBABILITY = 0.5

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
]
RAISED_LIMIT = "1000000"


def raised_limits() -> dict[str, str]:
    """Every per-minute limit of the server (``SOBERANA_*_PER_MINUTE``: citizen questions, conversations and
    hand-offs, refused authentications, sign-in attempts…), raised for the run: they are not what is fuzzed,
    and requests from one address would otherwise mostly meet 429s (Schemathesis sends many requests
    without a key or with a wrong one)."""
    from soberana.settings import Settings

    return {f"SOBERANA_{name.upper()}": RAISED_LIMIT for name in Settings.model_fields if name.endswith("_per_minute")}


CHAT_ALIAS, RERANK_ALIAS, EMBEDDINGS_ALIAS = "fuzz-chat", "fuzz-rerank", "multilingual-e5-small"
ADMIN_EMAIL = "admin@demo.example"  # the platform administrator `soberana demo seed` creates
BASE_VARIABLE = "$SOBERANA_URL"  # in the reproductions, instead of the run's own address
SKIP_CURL_HEADERS = {"user-agent", "accept-encoding", "accept", "connection", "content-length"}


# -- processes ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], log: Path, ready_url: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(cmd)} did not start; see {log}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def soberana(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "-m", "soberana", *args],
        env=env,
        cwd=Path(env["SOBERANA_DATA_DIR"]).parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"soberana {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# -- the installation under test ----------------------------------------------------------------------


def server_env(work: Path, port: int, upstream_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOBERANA_")}
    upstream = f"http://127.0.0.1:{upstream_port}/v1"
    deployments = [
        # The embedded embedding model, as `make run` offers it: the demo collection is searched with it.
        {
            "alias": EMBEDDINGS_ALIAS,
            "provider": "local_embeddings",
            "capabilities": ["embeddings"],
            "streaming": False,
            "context_length": 512,
            "max_concurrency": 4,
        },
        # Chat and rerank through the minimal upstream (the embedded chat model would spend minutes of
        # CPU on fuzzed `max_tokens`; what is fuzzed here is Soberana, not the model).
        {"alias": CHAT_ALIAS, "provider": "openai_compat", "model": "echo", "base_url": upstream},
        {
            "alias": RERANK_ALIAS,
            "provider": "openai_compat",
            "model": "rerank",
            "base_url": upstream,
            "capabilities": ["rerank"],
            "streaming": False,
        },
    ]
    env.update(
        {
            "SOBERANA_DATA_DIR": str(work / "data"),
            "SOBERANA_SECRET_KEY": secrets.token_urlsafe(48),
            "SOBERANA_HOST": "127.0.0.1",
            "SOBERANA_PORT": str(port),
            "SOBERANA_LOG_LEVEL": "warning",
            "SOBERANA_ACCESS_LOG": "false",
            "SOBERANA_DEMO_MODELS": "false",
            "SOBERANA_DEPLOYMENTS": json.dumps(deployments),
            **raised_limits(),
        }
    )
    return env


def prepare(base: str, key: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Objects the generator may refer to (by id), created through the API as an administrator would;
    and the ids of the run's own key and organisation with the sandbox's stand-ins (see the hooks)."""
    headers = {"Authorization": f"Bearer {key}"}
    client = httpx.Client(base_url=base, headers=headers, timeout=60)

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = client.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise RuntimeError(f"preparing: {method} {path} -> {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def listed(answer: Any) -> list[dict[str, Any]]:
        return answer if isinstance(answer, list) else answer.get("data", [])

    me = call("GET", "/admin/me")
    demo_org = me.get("org_id") or me.get("organisation", {}).get("id")
    org = call(
        "POST",
        "/admin/organisations",
        json={"slug": "fuzz-sandbox", "name": "Fuzz sandbox", "kind": "agency", "parent_id": demo_org},
    )
    user = call(
        "POST",
        "/admin/users",
        json={"org_id": org["id"], "email": "staff@sandbox.example", "display_name": "Sandbox staff", "role": "staff"},
    )
    account = call(
        "POST", "/admin/service-accounts", json={"org_id": org["id"], "name": "sandbox-app", "role": "staff"}
    )
    spare = call(
        "POST", "/admin/keys", json={"name": "spare", "service_account_id": account["id"], "scopes": ["inference"]}
    )
    collection = call(
        "POST",
        "/v1/collections",
        json={"name": "sandbox-docs", "title": "Sandbox documents", "visibility": "public", "org_id": org["id"]},
    )
    page = b"# Opening hours\n\nThe sandbox office opens from 9 to 14 on weekdays. Call 555 0100 to book.\n"
    job = call(
        "POST", f"/v1/collections/{collection['id']}/documents", files={"files": ("hours.md", page, "text/markdown")}
    )
    for _ in range(120):  # ingestion runs in the background
        job = call("GET", f"/v1/ingest-jobs/{job['id']}")
        if job.get("status") in ("succeeded", "partial", "failed"):
            break
        time.sleep(0.5)
    documents = listed(call("GET", f"/v1/collections/{collection['id']}/documents"))
    collections = listed(call("GET", "/v1/collections"))
    demo = next((c for c in collections if c.get("name") == "city-services"), None)
    # Citizen conversations: one kept open, one with a hand-off case (its id for the staff queue).
    conversations, tokens, messages = [], [], []
    for _ in range(2):
        opened = client.post("/v1/conversations", json={"collection": "demo/city-services"}, headers={}).json()
        conversations.append(opened["id"])
        tokens.append(opened["token"])
        answered = client.post(
            f"/v1/conversations/{opened['id']}/messages",
            json={"question": "How much does a minor works permit cost?"},
            headers={"X-Conversation-Token": opened["token"]},
        ).json()
        messages.append(answered.get("message_id") or answered.get("id") or "")
    case = client.post(
        f"/v1/conversations/{conversations[1]}/handoff",
        json={"reason": "I want to talk to a person", "contact": "citizen@example.org"},
        headers={"X-Conversation-Token": tokens[1]},
    ).json()
    # A conversation with placeholders of personal data in the vault (the privacy erasure endpoint).
    client.post(
        "/v1/chat/completions",
        json={"model": CHAT_ALIAS, "messages": [{"role": "user", "content": "My name is Ana Pérez, 612 345 678."}]},
        headers={"X-Soberana-Conversation": "fuzz-vault-1"},
    )
    workspace = staff_conversation(base, client, me)
    deployments = listed(call("GET", "/admin/models/deployments"))
    extra = call(
        "POST",
        "/admin/models/deployments",
        json={"alias": "fuzz-extra", "provider": "mock", "model": "echo"},
    )
    protected = {me["key_id"]: spare["id"], demo_org: org["id"]}
    return {
        "orgs": [org["id"]],
        "users": [user["id"]],
        "service_accounts": [account["id"]],
        "keys": [spare["id"]],
        "collections": [c for c in (collection["id"], collection["name"], demo and demo["id"], "city-services") if c],
        "collection_refs": [collection["id"], "demo/city-services", "demo/sandbox-docs"],
        "documents": [d["id"] for d in documents] or ["doc_0"],
        "jobs": [job["id"]],
        "cases": [case["id"]],
        "conversations": conversations,
        "tokens": tokens,
        "messages": [m for m in messages if m] or ["msg_0"],
        "deployments": [d["id"] for d in deployments if d.get("id")] + [extra["id"]],
        "models": [CHAT_ALIAS, RERANK_ALIAS, EMBEDDINGS_ALIAS],
        "vault": ["fuzz-vault-1"],
        "subjects": [org["id"], spare["id"]],
        "sandbox_collection": [collection["id"]],
        "workspace": [workspace] if workspace else ["wsc_00000000000000000000000000"],
        "chat_models": [CHAT_ALIAS],
        "embedding_models": [EMBEDDINGS_ALIAS],
        "rerank_models": [RERANK_ALIAS],
    }, protected


def staff_conversation(base: str, client: httpx.Client, me: dict[str, Any]) -> str | None:
    """A saved workspace conversation of the key's owner (they are made in the web workspace only):
    give the owner a password, sign in, send one message. None when that fails."""
    password = secrets.token_urlsafe(18)
    if client.patch(f"/admin/users/{me['id']}", json={"password": password}).status_code != 200:
        return None
    web = httpx.Client(base_url=base, timeout=60)

    def token(page: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', web.get(page).text)
        return found.group(1) if found else ""

    signed_in = web.post(
        "/sign-in",
        data={"email": ADMIN_EMAIL, "password": password, "csrf_token": token("/sign-in"), "next": "/staff/chat"},
    )
    if signed_in.status_code >= 400:
        return None
    sent = web.post(
        "/staff/chat",
        data={"message": "Draft a reply about opening hours.", "model": CHAT_ALIAS, "csrf_token": token("/staff/chat")},
    )
    found = re.search(r"[?&]c=(wsc_[0-9A-Za-z]+)", sent.headers.get("location", ""))
    return found.group(1) if found else None


# -- Schemathesis configuration -----------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def to_toml(config: dict[str, Any]) -> str:
    """A small TOML writer: scalars first, then one table per nested dictionary."""
    lines: list[str] = []

    def table(prefix: str, data: dict[str, Any]) -> None:
        nested = {k: v for k, v in data.items() if isinstance(v, dict) and not k.startswith("=")}
        if prefix and any(k not in nested for k in data):
            lines.append(f"\n[{prefix}]")
        for key, value in data.items():
            if key not in nested:
                lines.append(f"{json.dumps(key)} = {toml_value(value)}")
        for key, value in nested.items():
            table(f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key), value)

    table("", config)
    return "\n".join(lines) + "\n"


def fuzz_config(headers: dict[str, str], known: dict[str, list[str]]) -> dict[str, Any]:
    def bind(name: str) -> dict[str, Any]:
        return {"dictionary": name, "probability": KNOWN_ID_PROBABILITY}

    parameters = {
        "org_id": bind("orgs"),
        "parent_id": bind("orgs"),
        "user_id": bind("users"),
        "sa_id": bind("service_accounts"),
        "service_account_id": bind("service_accounts"),
        "key_id": bind("keys"),
        "dep_id": bind("deployments"),
        "name": bind("models"),
        "model_id": bind("models"),
        "collection": bind("collections"),
        "document_id": bind("documents"),
        "job_id": bind("jobs"),
        "case_id": bind("cases"),
        "conversation_id": bind("conversations"),
        "conversation": bind("vault"),
        "subject_id": bind("subjects"),
        "header.X-Conversation-Token": bind("tokens"),
        "body.model": bind("models"),
        "body.collection": bind("collection_refs"),
        "body.collections[*]": bind("collections"),
        "body.org_id": bind("orgs"),
        "body.parent_id": bind("orgs"),
        "body.user_id": bind("users"),
        "body.service_account_id": bind("service_accounts"),
        "body.message_id": bind("messages"),
    }
    return {
        "seed": SEED,
        "hooks": str(Path(__file__).resolve()),
        "workers": 1,
        "request-timeout": 60,
        "continue-on-failure": True,
        "headers": headers,
        "output": {"sanitization": {"enabled": False}},
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": STATEFUL_MAX_STEPS},
        },
        "dictionaries": {name: {"values": values} for name, values in known.items()},
        "parameters": parameters,
        # Where a parameter of the same name means something else, a dictionary of its own.
        "operations": [
            {"include-path": "/v1/chat/completions", "parameters": {"body.model": bind("chat_models")}},
            {"include-path": "/v1/answers", "parameters": {"body.model": bind("chat_models")}},
            {"include-path": "/v1/embeddings", "parameters": {"body.model": bind("embedding_models")}},
            {"include-path": "/v1/rerank", "parameters": {"body.model": bind("rerank_models")}},
            {
                "include-path-regex": "^/v1/workspace/conversations/",
                "parameters": {"conversation_id": bind("workspace")},
            },
            {
                "include-path": "/v1/collections/{collection}/documents/{document_id}",
                "parameters": {"collection": bind("sandbox_collection"), "document_id": bind("documents")},
            },
        ],
    }


def run_pass(
    name: str,
    schema_url: str,
    config: dict[str, Any],
    work: Path,
    protected: dict[str, str],
    include_paths: list[str] | None = None,
) -> tuple[Path, float, int]:
    config_path = work / f"schemathesis-{name}.toml"
    config_path.write_text(to_toml(config), encoding="utf-8")
    ndjson = work / f"{name}.ndjson"
    cmd = [str(SCHEMATHESIS), "--config-file", str(config_path), "run", schema_url, "--no-color"]
    for path in include_paths or []:
        cmd += ["--include-path", path]
    cmd += ["--report", "ndjson", "--report-ndjson-path", str(ndjson)]
    print(f"[{name}] {' '.join(shlex.quote(c) for c in cmd)}", flush=True)
    began = time.perf_counter()
    with (work / f"{name}.log").open("w") as log:
        try:
            code = subprocess.run(
                cmd,
                env={**os.environ, PROTECTED_ENV: json.dumps(protected)},
                cwd=work,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=PASS_TIMEOUT_S,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    elapsed = time.perf_counter() - began
    print(f"[{name}] finished in {elapsed:.0f} s (exit {code}); log {work / f'{name}.log'}", flush=True)
    return ndjson, elapsed, code


# -- reading the results --------------------------------------------------------------------------------


def ansi_c(data: bytes) -> str:
    """Bytes as a shell word: plain quoting when printable, else $'…' with escapes."""
    try:
        text = data.decode("utf-8")
        if text.isprintable() or all(c.isprintable() or c in "\n\t" for c in text):
            return shlex.quote(text) if text.isprintable() else "$'" + _escape(data) + "'"
    except UnicodeDecodeError:
        pass
    return "$'" + _escape(data) + "'"


def _escape(data: bytes) -> str:
    out = []
    for byte in data:
        char = chr(byte)
        if char in "\\'":
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def curl(request: dict[str, Any], secrets_: dict[str, str]) -> str:
    parts = ["curl", "-X", request["method"]]
    for name, values in request.get("headers", {}).items():
        if name.lower() in SKIP_CURL_HEADERS or name.lower().startswith("x-schemathesis"):
            continue
        for value in values if isinstance(values, list) else [values]:
            header = f"{name}: {value}"
            replaced = False
            for secret, variable in secrets_.items():
                if secret in header:
                    header, replaced = header.replace(secret, variable), True
            parts += ["-H", f'"{header}"' if replaced else shlex.quote(header)]
    body = request.get("body")
    if body is not None:
        raw = b64decode(body["$base64"]) if isinstance(body, dict) else str(body).encode()
        parts += ["--data-binary", ansi_c(raw)]
    uri = request["uri"]
    base = next((b for b, variable in secrets_.items() if variable == BASE_VARIABLE and uri.startswith(b)), None)
    parts.append(f'"{BASE_VARIABLE}"' + shlex.quote(uri[len(base) :]) if base else shlex.quote(uri))
    return " ".join(parts)


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Timeout|Interrupt)\w*(:|$)")


def server_tracebacks(log: Path) -> dict[str, dict[str, str]]:
    """Request id -> where the unhandled exception was raised (innermost frame in soberana/) and what."""
    found: dict[str, dict[str, str]] = {}
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for index, line in enumerate(lines):
        match = re.search(r"unhandled error in (\S+) (\S+) \(request (\S+)\)", line)
        if not match:
            continue
        block = []
        for following in lines[index + 1 :]:
            if re.match(r"^(INFO|WARNING|ERROR|DEBUG|CRITICAL)[: ]", following) or "unhandled error in" in following:
                break
            block.append(following)
        frames = [b.strip() for b in block if b.strip().startswith("File ")]
        ours = [f for f in frames if "/soberana/" in f and "/site-packages/" not in f]
        raised = [b for b in block if EXCEPTION_LINE.match(b)]
        exception = raised[-1].strip()[:300] if raised else ""
        ours = [re.sub(r'File ".*?/(soberana/[^"]+)"', r"\1", f) for f in ours]
        found[match.group(3)] = {
            "exception": exception,
            "where": ours[-1] if ours else (frames[-1] if frames else ""),
            "soberana_frames": ours[-6:],
            "traceback": "\n".join(block[-40:]),
        }
    return found


def read_pass(
    name: str, ndjson: Path, operations: list[str], secrets_: dict[str, str], tracebacks: dict[str, dict[str, str]]
) -> dict[str, Any]:
    per_op: dict[str, dict[str, Any]] = {
        label: {"requests": 0, "responses": 0, "status": Counter(), "phases": Counter(), "failures": []}
        for label in operations
    }
    errors: list[dict[str, Any]] = []
    finished: dict[str, Any] = {}
    seen: set[str] = set()
    if not ndjson.exists():
        return {"operations": per_op, "errors": [{"title": "no NDJSON report written"}], "finished": {}}
    with ndjson.open(encoding="utf-8") as stream:
        for line in stream:
            event = json.loads(line)
            kind, payload = next(iter(event.items()))
            if kind == "NonFatalError":
                value = payload.get("value") or {}
                errors.append({"label": payload.get("label"), "phase": payload.get("phase"), **value})
            elif kind == "EngineFinished":
                finished = {"stop_reason": payload.get("stop_reason"), "running_time": payload.get("running_time")}
            elif kind == "ScenarioFinished":
                recorder = payload.get("recorder") or {}
                cases = recorder.get("cases", {})
                for case_id, interaction in recorder.get("interactions", {}).items():
                    if case_id in seen or case_id not in cases:
                        continue
                    seen.add(case_id)
                    case = cases[case_id]["value"]
                    request = interaction["request"]
                    label = f"{case['method'].upper()} {case['path']}"
                    if label not in per_op and recorder.get("label") in per_op:
                        label = recorder["label"]  # the coverage phase's unexpected methods
                    stats = per_op.setdefault(
                        label, {"requests": 0, "responses": 0, "status": Counter(), "phases": Counter(), "failures": []}
                    )
                    stats["requests"] += 1
                    stats["phases"][payload.get("phase", "?")] += 1
                    response = interaction.get("response")
                    status = response["status_code"] if response else None
                    if response is not None:
                        stats["status"][str(status)] += 1
                        if request["method"].upper() == label.split(" ", 1)[0]:
                            stats["responses"] += 1
                    else:
                        stats["status"]["no response"] += 1
                    for check in recorder.get("checks", {}).get(case_id, []):
                        if check["status"] != "failure":
                            continue
                        failure = check["failure_info"]["failure"]
                        request_id = ((response or {}).get("headers", {}).get("x-request-id") or [None])[0]
                        entry = {
                            "pass": name,
                            "phase": payload.get("phase"),
                            "check": check["name"],
                            "code": failure.get("code"),
                            "title": failure.get("title"),
                            "message": failure.get("message", "")[:600],
                            "status": status,
                            "request_id": request_id,
                            "curl": curl(request, secrets_),
                        }
                        if len(entry["curl"]) > 2000 and check["name"] != "not_a_server_error":
                            entry["curl"] = entry["curl"][:2000] + " … (truncated)"
                        if response is not None and status is not None and status >= 500:
                            content = response.get("content")
                            body = b64decode(content["$base64"]) if isinstance(content, dict) else b""
                            entry["response"] = body.decode("utf-8", "replace")[:400]
                            if request_id in tracebacks:
                                entry["server"] = tracebacks[request_id]
                        stats["failures"].append(entry)
    log = ndjson.with_suffix(".log")
    text = log.read_text(errors="replace") if log.exists() else ""
    warnings = re.search(r"\nWarnings:\n(.*?)\n\n", text, re.S)
    finished["warnings"] = [w.strip(" ⚠️") for w in warnings.group(1).splitlines()] if warnings else []
    return {"operations": per_op, "errors": errors, "finished": finished}


# -- report ------------------------------------------------------------------------------------------


def group_key(failure: dict[str, Any]) -> tuple[str, ...]:
    first_line = (failure.get("message") or "").splitlines()[0] if failure.get("message") else ""
    if failure["check"] == "status_code_conformance":
        first_line = f"received {failure['status']}"
    if failure["check"] == "not_a_server_error":
        server = failure.get("server") or {}
        first_line = f"{failure['status']} {server.get('exception', '')} at {server.get('where', '?')}"
    return (failure["check"], failure.get("title") or "", first_line[:160])


def main() -> None:
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="soberana-fuzz-"))
    print(f"working in {work}", flush=True)
    port, upstream_port = free_port(), free_port()
    env = server_env(work, port, upstream_port)
    base = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    setup_began = time.perf_counter()
    try:
        upstream_env = {k: v for k, v in env.items() if not k.startswith("SOBERANA_")}
        processes.append(
            start(
                [PYTHON, "-m", "soberana.devtools.upstream", "--port", str(upstream_port)],
                upstream_env,
                work / "upstream.log",
                f"http://127.0.0.1:{upstream_port}/v1/models",
            )
        )
        soberana(env, "db", "upgrade")
        soberana(env, "demo", "seed")
        print("embedding the demo collection…", flush=True)
        soberana(env, "demo", "knowledge")
        key = soberana(
            env,
            *("keys", "create", "--org", "demo", "--name", "fuzz", "--user", ADMIN_EMAIL),
            *("--scope", "admin", "--scope", "audit", "--scope", "inference", "--scope", "knowledge", "--quiet"),
        ).strip()
        server_log = work / "server.log"
        server = start([PYTHON, "-m", "soberana", "serve"], env, server_log, f"{base}/readyz")
        processes.append(server)
        known, protected = prepare(base, key)
        setup_s = time.perf_counter() - setup_began
        schema = httpx.get(f"{base}/openapi.json", timeout=30).json()
        operations = [
            f"{method.upper()} {path}"
            for path, item in schema["paths"].items()
            for method in item
            if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace")
        ]
        anonymous_paths = sorted(
            path
            for path, item in schema["paths"].items()
            if all(not op.get("security") for m, op in item.items() if isinstance(op, dict))
        )
        secrets_ = {key: "$SOBERANA_KEY", base: BASE_VARIABLE}
        passes = {}
        admin_config = fuzz_config({"Authorization": f"Bearer {key}"}, known)
        passes["administrator"] = run_pass("administrator", f"{base}/openapi.json", admin_config, work, protected)
        me = httpx.get(f"{base}/admin/me", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        key_after = me.status_code
        passes["anonymous"] = run_pass(
            "anonymous", f"{base}/openapi.json", fuzz_config({}, known), work, protected, include_paths=anonymous_paths
        )
        quotas = httpx.get(f"{base}/admin/quotas", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        alive = httpx.get(f"{base}/healthz", timeout=10).status_code
    finally:
        for process in reversed(processes):
            stop(process)
    tracebacks = server_tracebacks(work / "server.log")
    patches_file = work / SCHEMA_PATCHES
    schema_patches = json.loads(patches_file.read_text()) if patches_file.exists() else []
    results = {name: read_pass(name, path, operations, secrets_, tracebacks) for name, (path, _, _) in passes.items()}

    # -- merge the passes per operation ------------------------------------------------------------------
    details_ops: dict[str, Any] = {}
    all_failures: list[dict[str, Any]] = []
    for label in operations + sorted({lbl for r in results.values() for lbl in r["operations"]} - set(operations)):
        merged: dict[str, Any] = {"in_schema": label in operations, "requests": 0, "status": Counter(), "passes": {}}
        failures: list[dict[str, Any]] = []
        for name, result in results.items():
            stats = result["operations"].get(label)
            if not stats or not stats["requests"]:
                continue
            merged["requests"] += stats["requests"]
            merged["status"].update(stats["status"])
            merged["passes"][name] = {
                "requests": stats["requests"],
                "responses_to_its_method": stats["responses"],
                "phases": dict(stats["phases"]),
                "status": dict(sorted(stats["status"].items())),
            }
            failures += stats["failures"]
        merged["exercised"] = any(p["responses_to_its_method"] for p in merged["passes"].values())
        merged["status"] = dict(sorted(merged["status"].items()))
        merged["server_errors"] = sum(n for s, n in merged["status"].items() if s.isdigit() and int(s) >= 500)
        merged["failed_checks"] = dict(Counter(f["check"] for f in failures))
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for failure in failures:
            groups[group_key(failure)].append(failure)
        merged["failures"] = [
            {
                "check": key_[0],
                "title": key_[1],
                "what": key_[2],
                "count": len(items),
                # every 5xx is listed with its reproduction; other checks give one example per group
                "examples": items if key_[0] == "not_a_server_error" else items[:1],
            }
            for key_, items in sorted(groups.items(), key=lambda kv: (kv[0][0] != "not_a_server_error", kv[0]))
        ]
        details_ops[label] = merged
        all_failures += [dict(f, operation=label) for f in failures]

    exercised = [label for label in operations if details_ops[label]["exercised"]]
    not_exercised = {
        label: (
            "no request generated"
            if not details_ops[label]["requests"]
            else "requests sent, none answered with the operation's own method"
        )
        for label in operations
        if not details_ops[label]["exercised"]
    }
    requests_sent = sum(d["requests"] for d in details_ops.values())
    server_errors = sum(d["server_errors"] for d in details_ops.values())
    check_failures = Counter(f["check"] for f in all_failures)
    schema_violations = sum(n for check, n in check_failures.items() if check != "not_a_server_error")
    server_error_groups = Counter(group_key(f)[2] for f in all_failures if f["check"] == "not_a_server_error")
    import schemathesis  # the version the run used

    summary = {
        "operations": len(exercised),
        "operations_total": len(operations),
        "requests": requests_sent,
        "server_errors": server_errors,
        "server_error_causes": len(server_error_groups),
        "schema_violations": schema_violations,
        "schema_violations_by_check": dict(
            sorted((c, n) for c, n in check_failures.items() if c != "not_a_server_error")
        ),
        "seed": SEED,
        "max_examples": MAX_EXAMPLES,
        "duration_s": round(time.perf_counter() - began, 1),
        "schemathesis": schemathesis.__version__,
    }
    details = {
        "passes": {
            name: {
                "duration_s": round(elapsed, 1),
                "exit_code": code,
                "stop_reason": results[name]["finished"].get("stop_reason"),
                "warnings": results[name]["finished"].get("warnings", []),
                "engine_errors": results[name]["errors"][:50],
            }
            for name, (_, elapsed, code) in passes.items()
        },
        "setup_s": round(setup_s, 1),
        "settings": {
            "raised_limits": {k: v for k, v in env.items() if v == RAISED_LIMIT and k.endswith("_PER_MINUTE")},
            "deployments": [EMBEDDINGS_ALIAS + " (embedded)", CHAT_ALIAS + " (upstream echo)", RERANK_ALIAS],
            "checks": CHECKS,
            "phases": ["examples", "coverage", "fuzzing", "stateful"],
            "stateful_max_steps": STATEFUL_MAX_STEPS,
            "known_ids": {k: len(v) for k, v in known.items()},
            "known_id_probability": KNOWN_ID_PROBABILITY,
        },
        "after_run": {
            "admin_key_status_after_administrator_pass": key_after,
            "healthz": alive,
            "quotas_on_the_run_key_or_organisation": [
                q for q in (quotas.json() if quotas.status_code == 200 else []) if q.get("subject_id") in protected
            ],
        },
        "schema_patched_by_harness": schema_patches,
        "not_exercised": not_exercised,
        "server_error_causes": dict(server_error_groups),
        "operations": details_ops,
    }
    write_results("fuzz", summary, details, markdown(summary, details, operations))
    print(json.dumps(summary, indent=2), flush=True)
    print(f"(working files, with the NDJSON reports and the server log, kept in {work})")


def markdown(summary: dict[str, Any], details: dict[str, Any], operations: list[str]) -> str:
    out = [
        "Schemathesis over `/openapi.json` against `soberana serve` (fresh SQLite, demo data and collection), "
        "as a platform administrator (admin, audit, inference, knowledge scopes) and, for the operations that "
        "need no key, anonymously. Phases: examples, coverage, fuzzing, stateful. "
        f"Seed {summary['seed']}, at most {summary['max_examples']} examples per operation and phase. "
        "Rate limits raised for the run: "
        + ", ".join(f"`{k}={v}`" for k, v in details["settings"]["raised_limits"].items())
        + ". Reproductions are `curl` lines: set `SOBERANA_URL` (e.g. `http://127.0.0.1:8080`) and "
        "`SOBERANA_KEY` (an administrator's key with those scopes); the ids in them are of the run's own, "
        "temporary database. How to read this: `bench/fuzz/README.md`.",
        "",
        "| | |",
        "|---|---|",
        f"| Operations exercised | **{summary['operations']} / {summary['operations_total']}** |",
        f"| Requests | {summary['requests']} |",
        f"| Server errors (5xx responses) | **{summary['server_errors']}** ({summary['server_error_causes']} causes) |",
        f"| Schema violations (other failed checks) | {summary['schema_violations']} |",
        f"| Duration | {summary['duration_s']} s (setup {details['setup_s']} s; "
        + ", ".join(f"{n} pass {p['duration_s']} s" for n, p in details["passes"].items())
        + ") |",
        f"| Schemathesis | {summary['schemathesis']} |",
        "",
    ]
    if summary["schema_violations_by_check"]:
        out += ["| Check | Failures |", "|---|---:|"]
        out += [f"| `{c}` | {n} |" for c, n in summary["schema_violations_by_check"].items()]
        out.append("")
    if details["schema_patched_by_harness"]:
        out += [
            "The schema as served has `$ref`s to `#/components/schemas/…` that are not there (the definitions "
            "sit in the request body's own `$defs`); the harness copied them into `components` before "
            "generating, so that these bodies could be fuzzed at all: "
            + ", ".join(f"`{p}`" for p in details["schema_patched_by_harness"])
            + ".",
            "",
        ]
    if details["not_exercised"]:
        out += ["## Not exercised", ""]
        out += [f"- `{label}`: {why}" for label, why in details["not_exercised"].items()]
        out.append("")
    after = details["after_run"]
    out += [
        f"After the administrator pass the key still answered `GET /admin/me` with "
        f"{after['admin_key_status_after_administrator_pass']}; `/healthz` at the end: {after['healthz']}.",
        "",
        "## Operations",
        "",
        "| Operation | Requests | Status codes | 5xx | Failed checks |",
        "|---|---:|---|---:|---|",
    ]
    for label in operations:
        d = details["operations"][label]
        statuses = ", ".join(f"{s}×{n}" for s, n in d["status"].items())
        checks = ", ".join(f"{c} {n}" for c, n in sorted(d["failed_checks"].items()) if c != "not_a_server_error")
        mark = "" if d["exercised"] else " (not exercised)"
        out.append(f"| `{label}`{mark} | {d['requests']} | {statuses} | {d['server_errors']} | {checks} |")
    out += ["", "## Server errors", ""]
    any_5xx = False
    for label in operations:
        for group in details["operations"][label]["failures"]:
            if group["check"] != "not_a_server_error":
                continue
            any_5xx = True
            out += [f"### `{label}`: {group['what']} ({group['count']}×)", ""]
            for example in group["examples"][:5]:
                out += ["```sh", example["curl"], "```", ""]
                if example.get("server"):
                    server = example["server"]
                    out += [f"Raised `{server['exception']}`; frames in `soberana/`, innermost last:", ""]
                    out += [f"- `{frame}`" for frame in server["soberana_frames"]] + [""]
    if not any_5xx:
        out += ["None.", ""]
    out += ["## Schema violations (one example per group)", ""]
    for label in operations:
        groups = [g for g in details["operations"][label]["failures"] if g["check"] != "not_a_server_error"]
        if not groups:
            continue
        out += [f"### `{label}`", ""]
        for group in groups:
            example = group["examples"][0]
            out += [f"- **{group['check']}** — {group['title']}: {group['what']} ({group['count']}×)"]
            out += ["", "  ```sh", "  " + example["curl"], "  ```"]
        out.append("")
    return "\n".join(out)


# -- Schemathesis hooks ----------------------------------------------------------------------------------
#
# Schemathesis loads this file again as its hooks module (``hooks`` in the generated configuration). The
# fuzzer learns ids from responses (``GET /admin/me`` names the key in use) and would sooner or later revoke
# the very key it runs with, or put a quota on it or on its organisation: everything after would be a 401 or
# a 429. Those few requests are pointed at the sandbox's spare key and organisation instead.

PROTECTED_ENV = "SOBERANA_FUZZ_PROTECTED"
SCHEMA_PATCHES = "schema-patches.json"  # written in the pass's working directory
REDIRECTED = {
    ("POST", "/admin/keys/{key_id}/revoke"): "key_id",
    ("PUT", "/admin/quotas/keys/{key_id}"): "key_id",
    ("PUT", "/admin/quotas/organisations/{org_id}"): "org_id",
    ("PUT", "/admin/privacy/policies/{kind}/{subject_id}"): "subject_id",
}


def register_hooks() -> None:
    import schemathesis

    replacements: dict[str, str] = json.loads(os.environ.get(PROTECTED_ENV, "{}"))

    @schemathesis.hook
    def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
        # Request bodies that FastAPI did not turn into components keep their own `$defs` while their
        # `$ref`s point to `#/components/schemas/…`: unresolvable, so Schemathesis could not build those
        # bodies. The definitions are copied where the references point (and the finding reported).
        components = raw_schema.setdefault("components", {}).setdefault("schemas", {})
        hoisted: list[str] = []

        def walk(node: Any, where: str) -> None:
            if isinstance(node, dict):
                for name, definition in (node.get("$defs") or {}).items():
                    if name not in components:
                        components[name] = definition
                        hoisted.append(f"{name} (from {where})")
                for value in node.values():
                    walk(value, where)
            elif isinstance(node, list):
                for value in node:
                    walk(value, where)

        for path, item in raw_schema.get("paths", {}).items():
            for method, operation in item.items():
                walk(operation, f"{method.upper()} {path}")
        if hoisted:
            Path(SCHEMA_PATCHES).write_text(json.dumps(hoisted), encoding="utf-8")

    @schemathesis.hook
    def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        name = REDIRECTED.get((case.method.upper(), case.path))
        parameters = case.path_parameters or {}
        if name and parameters.get(name) in replacements:
            case.path_parameters = {**parameters, name: replacements[parameters[name]]}


if __name__ == "__main__":
    main()
elif __name__ == "_schemathesis_hooks":
    register_hooks()

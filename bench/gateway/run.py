"""Gateway benchmark: Soberana against LiteLLM's proxy, in front of the same minimal upstream.

One run measures, side by side on this machine: the upstream alone, Soberana, and LiteLLM (when it
can be installed), non-streaming and streaming, at 1 and 32 concurrent connections. The system
under test is pinned to CPU 0; the load generator (wrk) and the upstream share CPU 1. Soberana runs
with everything on: API-key authentication, a quota on the key, usage metering with batches hashed
into the audit chain.

Reported: requests/s, latency percentiles, CPU time per request (from /proc), resident memory,
start-up time, the ratios the issue asks for, and a sampled profile (py-spy) of where Soberana's
remaining per-request CPU goes.

    make bench NAME=gateway
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from _common import bar, write_results  # noqa: E402

PYTHON = sys.executable
LITELLM_VENV = ROOT / "var" / "bench" / "litellm-venv"
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
CONCURRENCY = (1, 32)
GATEWAY_CPU, LOAD_CPU = "0", "1"
BODY = {"model": "bench", "messages": [{"role": "user", "content": "How do I renew my passport?"}]}


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)


def ensure_tools() -> None:
    if shutil.which("wrk") is None:
        print("installing wrk (Debian package)…")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    if not (LITELLM_VENV / "bin" / "litellm").exists():
        print("installing litellm[proxy] into var/bench/litellm-venv (for comparison only)…")
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=False)
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=False)
    if shutil.which("py-spy") is None and not (Path(PYTHON).parent / "py-spy").exists():
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", "py-spy"], check=False)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    cmd: list[str], cpu: str, env: dict[str, str], ready_url: str, log: Path, first_call: tuple[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server; return it and its start-up time: until ``ready_url`` answers or, with
    ``first_call`` (URL, key), until a chat completion through it succeeds."""
    began = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", cpu, *cmd], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 120
    while True:
        try:
            if first_call is not None:
                url, key = first_call
                answer = httpx.post(
                    url, json={**BODY, "model": "bench"}, headers={"Authorization": f"Bearer {key}"}, timeout=5
                )
                if answer.status_code == 200:
                    return process, time.perf_counter() - began
            elif httpx.get(ready_url, timeout=1).status_code < 500:
                return process, time.perf_counter() - began
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{cmd[0]} did not start; see {log}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def tree_pids(pid: int) -> list[int]:
    pids = [pid]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for c in child.read_text().split():
            pids += tree_pids(int(c))
    return pids


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            pass
    return total


def rss_mb(pid: int) -> float:
    total = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def wrk(
    url: str, body: dict[str, Any], key: str | None, connections: int, seconds: int, work: Path
) -> dict[str, float]:
    script = work / "post.lua"
    headers = 'wrk.headers["Content-Type"] = "application/json"\n'
    if key:
        headers += f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n{headers}')
    out = run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        match = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "rps": round(rps, 1),
        "requests": total,
        "errors": int(errors.group(1)) if errors else 0,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
    }


def measure(name: str, url: str, key: str | None, pid: int | None, work: Path, model: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for stream in (False, True):
        body = {**BODY, "model": model, "stream": stream}
        for connections in CONCURRENCY:
            wrk(url, body, key, connections, 2, work)  # warm up
            before = cpu_seconds(pid) if pid else 0.0
            result = wrk(url, body, key, connections, DURATION if connections > 1 else max(4, DURATION // 2), work)
            if pid:
                result["cpu_ms_per_request"] = round((cpu_seconds(pid) - before) * 1000 / max(result["requests"], 1), 3)
            results[f"{'stream' if stream else 'json'}_c{connections}"] = result
            print(
                f"  {name:10} {'stream' if stream else 'json  '} c={connections:<3} {result['rps']:>9.1f} req/s "
                f"p50 {result['p50_ms']:.2f} ms errors {result['errors']}",
                flush=True,
            )
    if pid:
        results["rss_mb"] = rss_mb(pid)
    return results


def profile(pid: int, url: str, key: str, work: Path) -> list[tuple[str, float]]:
    """Sample Soberana under load with py-spy; attribute each sample to the first matching area."""
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    raw = work / "profile.txt"
    body = {**BODY, "stream": False}
    script = work / "post.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
        f'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer {key}"\n'
    )
    load = subprocess.Popen(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c32", "-d12s", "-s", str(script), url], stdout=subprocess.DEVNULL
    )
    time.sleep(1)
    subprocess.run(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            "8",
            "--rate",
            "250",
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(raw),
        ],
        check=False,
        capture_output=True,
    )
    load.wait()
    if not raw.exists():
        return []
    areas = [
        ("soberana gateway (routing, quotas, metering)", "soberana/gateway/"),
        ("soberana auth", "soberana/auth/"),
        ("upstream HTTP client (aiohttp)", "aiohttp/"),
        ("provider adapter", "soberana/providers/"),
        ("HTTP server (uvicorn, httptools)", "uvicorn/"),
        ("FastAPI / Starlette routing", "fastapi/"),
        ("FastAPI / Starlette routing", "starlette/"),
        ("pydantic validation", "pydantic"),
        ("event loop (uvloop, asyncio)", "asyncio/"),
        ("event loop (uvloop, asyncio)", "uvloop"),
    ]
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = stack.split(";")
        label = "other"
        for frame in reversed(frames):  # innermost frame first: who spends the CPU
            hit = next((a for a, marker in areas if marker in frame), None)
            if hit:
                label = hit
                break
        counts[label] += int(n)
    return [(label, round(100 * n / total, 1)) for label, n in counts.most_common()] if total else []


def main() -> None:
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="soberana-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOBERANA_")}
    details: dict[str, Any] = {"duration_s": DURATION, "concurrency": CONCURRENCY}

    up_port = free_port()
    upstream, _ = start(
        [PYTHON, "-m", "soberana.devtools.upstream", "--port", str(up_port)],
        LOAD_CPU,
        env,
        f"http://127.0.0.1:{up_port}/v1/models",
        work / "upstream.log",
    )
    processes = [upstream]
    try:
        print("upstream alone:")
        details["upstream"] = measure(
            "upstream", f"http://127.0.0.1:{up_port}/v1/chat/completions", None, None, work, "echo"
        )

        # -- Soberana: everything on --------------------------------------------------------------
        sob_port = free_port()
        sob_env = {
            **env,
            "SOBERANA_DATA_DIR": str(work / "soberana"),
            "SOBERANA_PORT": str(sob_port),
            "SOBERANA_LOG_LEVEL": "warning",
            "SOBERANA_ACCESS_LOG": "false",
            "SOBERANA_DEMO_MODELS": "false",
            "SOBERANA_DEPLOYMENTS": json.dumps(
                [
                    {
                        "alias": "bench",
                        "provider": "openai_compat",
                        "model": "echo",
                        "base_url": f"http://127.0.0.1:{up_port}/v1",
                        "max_concurrency": 256,
                        "price_input_per_mtok": 0.1,
                        "price_output_per_mtok": 0.2,
                        "params_billion": 8,
                    }
                ]
            ),
        }
        soberana = [PYTHON, "-m", "soberana"]
        run([*soberana, "db", "upgrade"], env=sob_env)
        run([*soberana, "demo", "seed"], env=sob_env)
        key = run(
            [*soberana, "keys", "create", "--org", "demo", "--name", "bench", "--quiet"], env=sob_env
        ).stdout.strip()
        admin_key = run(
            [
                *soberana,
                "keys",
                "create",
                "--org",
                "demo",
                "--name",
                "bench-admin",
                "--user",
                "admin@demo.example",
                "--scope",
                "admin",
                "--quiet",
            ],
            env=sob_env,
        ).stdout.strip()
        server, startup = start(
            [*soberana, "serve"],
            GATEWAY_CPU,
            sob_env,
            f"http://127.0.0.1:{sob_port}/readyz",
            work / "soberana.log",
            first_call=(f"http://127.0.0.1:{sob_port}/v1/chat/completions", key),
        )
        processes.append(server)
        key_id = httpx.get(
            f"http://127.0.0.1:{sob_port}/admin/keys", headers={"Authorization": f"Bearer {admin_key}"}
        ).json()["data"]
        key_id = next(k["id"] for k in key_id if k["name"] == "bench")
        quota = httpx.put(
            f"http://127.0.0.1:{sob_port}/admin/quotas/keys/{key_id}",
            headers={"Authorization": f"Bearer {admin_key}"},
            json={"requests_per_minute": 10_000_000, "tokens_per_minute": 10_000_000_000, "monthly_budget": 1_000_000},
        )
        assert quota.status_code == 200, quota.text
        print(f"soberana (started in {startup:.2f} s):")
        details["soberana"] = measure(
            "soberana", f"http://127.0.0.1:{sob_port}/v1/chat/completions", key, server.pid, work, "bench"
        )
        details["soberana"]["startup_s"] = round(startup, 2)
        details["soberana_profile_percent"] = profile(
            server.pid, f"http://127.0.0.1:{sob_port}/v1/chat/completions", key, work
        )
        stop(server)
        processes.remove(server)
        usage = subprocess.run([*soberana, "audit", "verify"], env=sob_env, capture_output=True, text=True)
        details["soberana_audit_verify"] = usage.stdout.strip()

        # -- LiteLLM ------------------------------------------------------------------------------
        litellm = LITELLM_VENV / "bin" / "litellm"
        if litellm.exists():
            ll_port = free_port()
            config = work / "litellm.yaml"
            config.write_text(
                "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/echo\n"
                f"      api_base: http://127.0.0.1:{up_port}/v1\n      api_key: sk-upstream\n"
                "general_settings:\n  master_key: sk-bench-master\n"
            )
            ll_env = {**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
            server, startup = start(
                [str(litellm), "--config", str(config), "--port", str(ll_port), "--num_workers", "1"],
                GATEWAY_CPU,
                ll_env,
                f"http://127.0.0.1:{ll_port}/health/liveliness",
                work / "litellm.log",
                first_call=(f"http://127.0.0.1:{ll_port}/v1/chat/completions", "sk-bench-master"),
            )
            processes.append(server)
            print(f"litellm (started in {startup:.2f} s):")
            details["litellm"] = measure(
                "litellm",
                f"http://127.0.0.1:{ll_port}/v1/chat/completions",
                "sk-bench-master",
                server.pid,
                work,
                "bench",
            )
            details["litellm"]["startup_s"] = round(startup, 2)
            stop(server)
            processes.remove(server)
    finally:
        for process in processes:
            stop(process)

    report(details)


def report(details: dict[str, Any]) -> None:
    up, sob, ll = details["upstream"], details["soberana"], details.get("litellm")
    summary: dict[str, Any] = {
        "soberana_rps_json_c32": sob["json_c32"]["rps"],
        "soberana_rps_stream_c32": sob["stream_c32"]["rps"],
        "upstream_rps_json_c32": up["json_c32"]["rps"],
        "added_latency_p50_ms": round(sob["json_c1"]["p50_ms"] - up["json_c1"]["p50_ms"], 3),
        "added_latency_p50_ms_stream": round(sob["stream_c1"]["p50_ms"] - up["stream_c1"]["p50_ms"], 3),
        "cpu_ms_per_request": sob["json_c32"]["cpu_ms_per_request"],
        "rss_mb": sob["rss_mb"],
        "startup_s": sob["startup_s"],
    }
    if ll:
        summary.update(
            {
                "litellm_rps_json_c32": ll["json_c32"]["rps"],
                "litellm_rps_stream_c32": ll["stream_c32"]["rps"],
                "throughput_ratio_vs_litellm": round(sob["json_c32"]["rps"] / ll["json_c32"]["rps"], 2),
                "throughput_ratio_vs_litellm_stream": round(sob["stream_c32"]["rps"] / ll["stream_c32"]["rps"], 2),
                "litellm_cpu_ms_per_request": ll["json_c32"]["cpu_ms_per_request"],
                "litellm_rss_mb": ll["rss_mb"],
                "litellm_startup_s": ll["startup_s"],
            }
        )
    else:
        summary["throughput_ratio_vs_litellm"] = None
    systems = [("upstream alone", up), ("Soberana", sob)] + ([("LiteLLM proxy", ll)] if ll else [])
    lines = [
        f"Each system under test pinned to one core (CPU {GATEWAY_CPU}); wrk and the upstream on CPU {LOAD_CPU}. "
        f"{details['duration_s']} s per measurement at 32 connections. Soberana with authentication, a key quota, "
        "usage metering and audit anchoring on.",
        "",
        "| System | JSON c=1 req/s | p50 ms | JSON c=32 req/s | p50 ms | p99 ms | stream c=1 p50 ms "
        "| stream c=32 req/s | CPU ms/req | RSS MB | start-up s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in systems:
        lines.append(
            f"| {label} | {r['json_c1']['rps']:,} | {r['json_c1']['p50_ms']:.2f} | {r['json_c32']['rps']:,} | "
            f"{r['json_c32']['p50_ms']:.2f} | {r['json_c32']['p99_ms']:.2f} | {r['stream_c1']['p50_ms']:.2f} | "
            f"{r['stream_c32']['rps']:,} | {r['json_c32'].get('cpu_ms_per_request', '—')} | {r.get('rss_mb', '—')} | "
            f"{r.get('startup_s', '—')} |"
        )
    lines += ["", "| Target | Measured | Goal |", "|---|---:|---:|"]
    ratio = summary.get("throughput_ratio_vs_litellm")
    lines.append(f"| Throughput vs LiteLLM per core (JSON, c=32) | {ratio if ratio is not None else 'n/a'}× | ≥ 15× |")
    lines.append(f"| Added latency at c=1, p50 | {summary['added_latency_p50_ms']} ms | ≤ 1 ms |")
    lines.append(f"| RSS per worker | {summary['rss_mb']} MB | ≤ 150 MB |")
    lines.append(f"| Start-up (process start to first answered chat completion) | {summary['startup_s']} s | ≤ 2 s |")
    lines += ["", "**Requests/s, JSON, 32 connections**", "", "```"]
    top = max(r["json_c32"]["rps"] for _, r in systems)
    lines += [f"{label:15} {bar(r['json_c32']['rps'], top)} {r['json_c32']['rps']:,}" for label, r in systems]
    lines += [
        "```",
        "",
        "**Where Soberana's CPU goes** (py-spy samples under load, innermost recognised frame)",
        "",
        "| Area | % of samples |",
        "|---|---:|",
    ]
    lines += [f"| {label} | {pct} |" for label, pct in details.get("soberana_profile_percent", [])]
    lines += ["", f"Audit chain after the run: `{details.get('soberana_audit_verify', '')}`"]
    write_results("gateway", summary, details, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

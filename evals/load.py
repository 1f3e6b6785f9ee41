"""``python -m evals bench load``: concurrent users against the workbench, offline engine.

Starts the real app (``app.launch``: login on, hardened) in a separate process on 127.0.0.1 with
a small store (the sample regulations, built once under ``<data_dir>/bench/load-store`` and reused),
a users file of N users, and the offline engine. N threads each log in through ``gradio_client``
and ask questions from ``evals/sets/retrieval.jsonl`` back to back for a bounded time. Prints
p50 / p95 / max latency, throughput and errors (an exception, a timeout, or a refusal shown as
"⚠ …"). The per-user request limit is raised for the run (a closed loop with no think time would
otherwise meet it); everything else is the product's default. Exit 1 when any request failed.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS_FILE = ROOT / "evals" / "sets" / "retrieval.jsonl"
REQUEST_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r.get("query") or r.get("text") for r in rows if r.get("query") or r.get("text")] or ["征信修复可信吗？"]


def build_store(env: dict[str, str], store: Path) -> None:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ingest", str(ROOT / "corpus" / "regulations"), "--store", str(store),
                    "--quiet"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"store: {store} ({time.perf_counter() - start:.1f} s to build or check)")


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"workbench exited with status {proc.returncode}")
        try:
            if httpx.get(url + "config", timeout=2).status_code in (200, 401):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"workbench not up within {timeout:g} s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(users: int = 20, seconds: float = 30.0) -> int:
    from gradio_client import Client

    from rag.auth import UserStore
    from rag.settings import DEFAULT_EMBEDDING_MODEL, load_settings

    settings = load_settings()
    model = settings.embedding_model
    if model == DEFAULT_EMBEDDING_MODEL:
        from rag.e5convert import ensure_default_model

        model = str(ensure_default_model(settings.data_dir))
    store = settings.data_dir / "bench" / "load-store"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("XS_")}
    base_env.update(XS_CONFIG=os.devnull, XS_EMBEDDING_MODEL=model, GRADIO_ANALYTICS_ENABLED="False",
                    HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    build_store({**base_env, "XS_DATA_DIR": str(settings.data_dir)}, store)

    work = Path(tempfile.mkdtemp(prefix="xs-load-"))
    accounts = {f"load{i:02d}": f"load-pass-{i:02d}" for i in range(1, users + 1)}
    user_store = UserStore(work / "users.toml")
    for i, (name, password) in enumerate(accounts.items()):
        user_store.add(name, "investigator" if i % 4 == 0 else "frontline", password, rounds=4)
    port = free_port()
    env = {**base_env, "XS_DATA_DIR": str(work), "XS_STORE": str(store), "XS_PORT": str(port),
           "XS_REQUESTS_PER_MINUTE": "100000", "XS_TOKEN_ENCODING": settings.token_encoding}
    log_file = open(work / "app.out", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-c", "import app; app.launch()"], cwd=ROOT, env=env,
                            stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    pool = questions()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    try:
        wait_up(url, proc)
        warm = Client(url, auth=next(iter(accounts.items())), verbose=False)
        warm.predict(pool[0], [], "", api_name="/ask")  # loads the embedding model in the app
        clients = [Client(url, auth=item, verbose=False) for item in accounts.items()]
        start = threading.Barrier(users + 1)
        deadline: list[float] = []

        def user(n: int, client) -> None:
            start.wait()
            i = n
            while time.monotonic() < deadline[0]:
                q = pool[i % len(pool)]
                i += users
                t0 = time.perf_counter()
                try:
                    _history, _sources, status = client.submit(q, [], "", api_name="/ask").result(timeout=REQUEST_TIMEOUT_S)
                    problem = status if str(status).startswith("⚠") else ""
                except Exception as exc:  # noqa: BLE001 - every failure counts, whatever its kind
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - t0
                with lock:
                    (errors.append(problem) if problem else latencies.append(elapsed))

        threads = [threading.Thread(target=user, args=(n, c), daemon=True) for n, c in enumerate(clients)]
        for t in threads:
            t.start()
        deadline.append(time.monotonic() + seconds)
        began = time.perf_counter()
        start.wait()
        for t in threads:
            t.join(seconds + REQUEST_TIMEOUT_S + 5)
        wall = time.perf_counter() - began
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()
    done = len(latencies) + len(errors)
    ms = [x * 1000 for x in latencies]
    print(f"load: {users} concurrent users, {seconds:g} s, offline engine, store of the sample regulations, "
          f"queue concurrency {settings.concurrency}")
    print(f"  requests   {done}  ({done / wall:.1f}/s)")
    print(f"  latency    p50 {percentile(ms, 0.50):.0f} ms   p95 {percentile(ms, 0.95):.0f} ms   "
          f"max {max(ms, default=float('nan')):.0f} ms   mean {statistics.fmean(ms) if ms else float('nan'):.0f} ms")
    print(f"  errors     {len(errors)}" + (f"  e.g. {errors[0][:200]}" if errors else ""))
    return 0 if not errors and latencies else 1


if __name__ == "__main__":
    raise SystemExit(main())

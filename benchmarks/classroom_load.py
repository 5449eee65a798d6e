"""Classroom load test (loopback only, bounded in count and time).

Starts one ``streamlit run app.py`` server on 127.0.0.1 with an empty cache, then 50 concurrent
simulated sessions (Streamlit's own websocket protocol, as a browser speaks it) open the default
view of each lab and each preset (``?preset=NAME``). Reports, for a cold and then a warm cache:
p50/p95 time to first figure and to a finished page, errors, how many computations ran and
whether any Config was computed twice (the server logs every computation), and the server's
peak memory. Usage: ``python benchmarks/classroom_load.py [--sessions 50] [--deadline 900]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# page file stem -> lab modules whose PRESETS the page offers
PAGE_LABS = {
    "1_Deep_linear_networks": ["deep_linear"],
    "2_Lazy_vs_rich": ["lazy_rich"],
    "3_Edge_of_stability": ["eos"],
    "4_Scaling_laws": ["scaling"],
    "5_Hyperparameter_transfer": ["mup"],
    "6_Representation_alignment": ["alignment"],
    "9_Playground": ["playground"],
}


def views() -> list[tuple[str, str]]:
    """(page name, query string) for every lab's default view and every preset."""
    from engine import labs

    out = []
    for page in sorted((ROOT / "pages").glob("[0-9]*_*.py")):
        name = page.stem.split("_", 1)[1]
        out.append((name, ""))
        for lab in PAGE_LABS.get(page.stem, []):
            try:
                presets = getattr(labs.get(lab), "PRESETS", {})
            except ValueError:
                continue
            out += [(name, "preset=" + urllib.parse.quote(p)) for p in presets]
    return out


async def session(url: str, page: str, query: str, timeout: float) -> dict:
    t0 = time.perf_counter()
    first = finished = None
    error = None
    try:
        async with websockets.connect(url, subprotocols=["streamlit"], max_size=2**27, open_timeout=60) as ws:
            msg = BackMsg()
            msg.rerun_script.query_string = query
            msg.rerun_script.page_name = page
            await ws.send(msg.SerializeToString())
            while time.perf_counter() - t0 < timeout:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(1.0, timeout - (time.perf_counter() - t0)))
                fm = ForwardMsg()
                fm.ParseFromString(raw)
                kind = fm.WhichOneof("type")
                if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                    el = fm.delta.new_element.WhichOneof("type")
                    if el == "plotly_chart" and first is None:
                        first = time.perf_counter() - t0
                    if el == "exception":
                        error = fm.delta.new_element.exception.message[:200]
                elif kind == "script_finished" and fm.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    finished = time.perf_counter() - t0
                    break
    except TimeoutError:
        pass  # still computing at the round's bound: counted as unfinished, not as an error
    except Exception as e:  # a failed session is a result of the load test
        error = f"{type(e).__name__}: {e}"
    return {"page": page, "query": query, "first": first, "finished": finished, "error": error}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


async def round_(port: int, n: int, timeout: float) -> list[dict]:
    vs = views()
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    jobs = [session(url, *vs[i % len(vs)], timeout) for i in range(n)]
    return await asyncio.gather(*jobs)


def report(label: str, res: list[dict], log: pathlib.Path, seen: int) -> int:
    firsts = [r["first"] for r in res if r["first"] is not None]
    fins = [r["finished"] for r in res if r["finished"] is not None]
    errors = [r for r in res if r["error"]]
    lines = log.read_text().split("\n") if log.exists() else []
    keys = [ln.split()[0] for ln in lines if ln.strip()]
    new = keys[seen:]
    dup = [k for k, c in collections.Counter(keys).items() if c > 1]
    print(
        f"{label}: {len(res)} sessions over {len(views())} views; first figure p50 {pct(firsts, 0.5):.2f} s, "
        f"p95 {pct(firsts, 0.95):.2f} s ({len(firsts)} got one); finished p50 {pct(fins, 0.5):.2f} s, "
        f"p95 {pct(fins, 0.95):.2f} s ({len(fins)} finished); errors {len(errors)}; computations {len(new)}; "
        f"computed twice {len(dup)}"
    )
    for e in errors[:5]:
        print(f"  error on {e['page']}?{e['query']}: {e['error']}")
    return len(keys)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--deadline", type=float, default=900.0, help="seconds per round (each session's bound)")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="lml-load-"))
    log = tmp / "computations.log"
    env = dict(os.environ, LML_CACHE_DIR=str(tmp / "cache"), LML_LOG_COMPUTE=str(log))
    srv = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.enableXsrfProtection",
            "false",
            "--server.enableCORS",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        print(f"server pid {srv.pid} on 127.0.0.1:{port}; {os.cpu_count()} cores")
        t = time.time()
        cold = asyncio.run(round_(port, args.sessions, args.deadline))
        seen = report(f"cold cache ({time.time() - t:.0f} s)", cold, log, 0)
        t = time.time()
        warm = asyncio.run(round_(port, args.sessions, args.deadline))
        report(f"warm cache ({time.time() - t:.0f} s)", warm, log, seen)
        status = pathlib.Path(f"/proc/{srv.pid}/status").read_text()
        hwm = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM")), "0")
        print(f"server peak memory (VmHWM) {int(hwm) / 1024:.0f} MiB")
    finally:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()


if __name__ == "__main__":
    main()

"""Categories of client CPU for bench/profile_requests.py: which library a profiled frame belongs to
(azure-core policies, signing, SDK models, XML/JSON, transport, event loop, ours), and the two
profilers (cProfile with a CPU-time timer, an ``ITIMER_PROF`` stack sampler)."""

from __future__ import annotations

import cProfile
import inspect
import pstats
import signal
import sys
import sysconfig
from collections import Counter, defaultdict
from pathlib import Path
from types import FrameType

# ------------------------------------------------------------------------------ categories

STDLIB = str(Path(sysconfig.get_paths()["stdlib"]).resolve())
THIS_FILE = str(Path(__file__).resolve().parent / "profile_requests.py")  # the harness
#: Every module of the harness (its frames are charged to HARNESS).
HARNESS_FILES = frozenset(
    str(Path(__file__).resolve().parent / name)
    for name in ("profile_requests.py", "_profile_operations.py", "_profile_categories.py")
)

SIGNING = "signing (SharedKey)"
POLICY = "policy: "  # + class name
PLUMBING = "azure-core pipeline plumbing (policy runners, AsyncPipeline)"
TRACING = "tracing (distributed_trace decorator, settings)"
SDK = "SDK request building + models (client methods, generated operations, (de)serializers)"
XML = "XML (xml.etree)"
JSON = "JSON"
CORE_HTTP = "azure-core HttpRequest/HttpResponse objects"
ADAPTER = "transport: azure-core aiohttp adapter"
AIOHTTP = "transport: aiohttp + yarl + multidict"
LOOP = "event loop + sockets (asyncio, selectors)"
THREADS = "thread hand-offs (executor submit)"
OURS = "ours (durable_azure)"
HARNESS = "bench harness"
OTHER = "other"
OTHER_THREADS = "other threads (not profiled)"

# Modules whose classes are pipeline policies: (file, first line, last line) -> class name.
_POLICY_FILE_MARKERS = (
    "/azure/core/pipeline/policies/",
    "/_shared/policies",
    "/_shared/authentication",
    "/azure/data/tables/_policies",
    "/azure/data/tables/aio/_policies",
    "/azure/data/tables/_authentication",
    "/azure/data/tables/aio/_authentication",
)
_SIGNING_CLASSES = {
    "SharedKeyCredentialPolicy",
    "_SharedKeyCredentialPolicy",
    "AzureSasCredentialPolicy",
    "AsyncStorageBearerTokenCredentialPolicy",
    "AsyncBearerTokenCredentialPolicy",
    "AsyncBearerTokenChallengePolicy",
}
# Stdlib modules that are a category of their own; every other stdlib module is neutral.
_STDLIB_OWNERS = (
    ("asyncio/", LOOP),
    ("selectors.py", LOOP),
    ("socket.py", LOOP),
    ("ssl.py", LOOP),
    ("xml/", XML),
    ("json/", JSON),
    ("hmac.py", SIGNING),
    ("hashlib.py", SIGNING),
    ("concurrent/futures/", THREADS),
    ("threading.py", THREADS),
    ("queue.py", THREADS),
)
_BUILTIN_OWNERS = (
    ("select.epoll", LOOP),
    ("_socket.socket", LOOP),
    ("_asyncio", LOOP),
    ("_overlapped", LOOP),
    ("_hashlib", SIGNING),
    ("_hmac", SIGNING),
    ("pyexpat", XML),
    ("xml.etree", XML),
    ("_elementtree", XML),
    ("_json", JSON),
    ("orjson", JSON),
    ("_queue.SimpleQueue", THREADS),
    ("_thread", THREADS),
)


class Categorizer:
    """Maps a code location (file, line, function) to a category, or ``None`` for neutral frames."""

    def __init__(self) -> None:
        self._policy_ranges: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self._cache: dict[tuple[str, int, str], str | None] = {}
        self._index_policy_classes()

    def _index_policy_classes(self) -> None:
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None) or ""
            if not any(marker in path for marker in _POLICY_FILE_MARKERS):
                continue
            resolved = str(Path(path).resolve())
            for name, obj in vars(module).items():
                if not inspect.isclass(obj) or obj.__module__ != module.__name__:
                    continue
                try:
                    lines, first = inspect.getsourcelines(obj)
                except (OSError, TypeError):
                    continue
                self._policy_ranges[resolved].append((first, first + len(lines) - 1, name))

    def _policy_class(self, path: str, line: int) -> str | None:
        best: tuple[int, str] | None = None
        for first, last, name in self._policy_ranges.get(path, ()):
            if first <= line <= last and (best is None or first > best[0]):  # innermost class
                best = (first, name)
        return best[1] if best else None

    def category(self, filename: str, line: int, function: str) -> str | None:
        key = (filename, line, function)
        if key not in self._cache:
            self._cache[key] = self._category(filename, line, function)
        return self._cache[key]

    def _category(self, filename: str, line: int, function: str) -> str | None:
        if filename == "~" or filename.startswith("<"):  # a builtin (cProfile) or generated code
            for marker, category in _BUILTIN_OWNERS:
                if marker in function:
                    return category
            return None
        path = str(Path(filename).resolve()) if not filename.startswith("/") else filename
        if path in HARNESS_FILES:
            return HARNESS
        if "/durable_azure/" in path:
            return OURS
        if path.startswith(STDLIB) and "site-packages" not in path:
            rel = path[len(STDLIB) + 1 :]
            for prefix, category in _STDLIB_OWNERS:
                if rel.startswith(prefix):
                    return category
            return None
        if "/site-packages/" not in path:
            return OTHER
        rel = path.split("/site-packages/", 1)[1]
        if any(marker in "/" + rel for marker in _POLICY_FILE_MARKERS):
            cls = self._policy_class(path, line)
            if cls is None:
                return None  # module-level helpers of a policy module: charged to the caller
            return SIGNING if cls in _SIGNING_CLASSES else POLICY + cls
        if rel.startswith("azure/core/pipeline/_") or rel.startswith("azure/core/_pipeline_client"):
            return PLUMBING
        if rel.startswith("azure/core/pipeline/transport/_aiohttp"):
            return ADAPTER
        if rel.startswith(("azure/core/rest/", "azure/core/pipeline/transport/", "azure/core/utils/")):
            return CORE_HTTP
        if rel.startswith(("azure/core/tracing/", "azure/core/settings", "azure/core/instrumentation")):
            return TRACING
        if rel.startswith(("aiohttp/", "yarl/", "multidict/", "propcache/", "frozenlist/", "aiosignal/")):
            return AIOHTTP
        if rel.startswith(("azure/storage/", "azure/data/tables/", "azure/core/")):
            return SDK
        if rel.startswith(("isodate/", "typing_extensions")):
            return None
        return OTHER


# ------------------------------------------------------------------------------ profilers


Func = tuple[str, int, str]


def categories_from_cprofile(profile: cProfile.Profile, cat: Categorizer) -> dict[str, float]:
    """Self time per category. A neutral function's self time is split over its callers (by the self
    time each caller's calls cost; further up the chain by cumulative time) until a categorized frame
    is reached; recursive edges are ignored."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    memo: dict[tuple[Func, bool], dict[str, float]] = {}
    active: set[Func] = set()

    def spread(func: Func, use_self: bool) -> dict[str, float]:
        """How one unit of ``func``'s time divides over categories."""
        category = cat.category(*func)
        if category is not None:
            return {category: 1.0}
        key = (func, use_self)
        if key in memo:
            return memo[key]
        callers = {c: e for c, e in stats.get(func, (0, 0, 0.0, 0.0, {}))[4].items() if c not in active}
        index = 2 if use_self else 3
        weights = {c: e[index] for c, e in callers.items()}
        if sum(weights.values()) <= 0:
            weights = {c: e[1] for c, e in callers.items()}  # by call count
        total = sum(weights.values())
        if total <= 0:
            return {OTHER: 1.0}
        active.add(func)
        out: dict[str, float] = defaultdict(float)
        for caller, weight in weights.items():
            if weight:
                for category_, part in spread(caller, False).items():
                    out[category_] += part * weight / total
        active.discard(func)
        memo[key] = dict(out)
        return memo[key]

    totals: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tottime, _ct, _callers) in stats.items():
        if tottime > 0:
            for category, part in spread(func, True).items():
                totals[category] += tottime * part
    return dict(totals)


class StackSampler:
    """Samples the main thread's stack every ``interval`` s of process CPU time (``ITIMER_PROF``) and
    charges each sample to the innermost categorized frame."""

    def __init__(self, cat: Categorizer, interval: float = 0.0005) -> None:
        self.cat = cat
        self.interval = interval
        self.samples: Counter[str] = Counter()

    def _on_signal(self, _signum: int, frame: FrameType | None) -> None:
        while frame is not None:
            code = frame.f_code
            category = self.cat.category(code.co_filename, frame.f_lineno, code.co_name)
            if category is not None:
                self.samples[category] += 1
                return
            frame = frame.f_back
        self.samples[OTHER] += 1

    def __enter__(self) -> StackSampler:
        signal.signal(signal.SIGPROF, self._on_signal)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def seconds(self) -> dict[str, float]:
        return {k: v * self.interval for k, v in self.samples.items()}

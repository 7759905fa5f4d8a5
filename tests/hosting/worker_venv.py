"""The deployable app folder and the worker venv the hosting tests run in.

Built once per test session, the way a deployment is:

1. an app folder with the sample's ``function_app.py``, ``host.json`` and ``requirements.txt``, made
   deployable by ``durable-azure package`` (a wheel of durable-azure in ``wheels/``);
2. a fresh venv into which ``pip install -r requirements.txt`` (run in the app folder, as the remote
   build does) installs the app: durable-azure from the wheel, its dependencies from PyPI;
3. into the same venv, the Functions Python worker's library from PyPI (``azure-functions-runtime``,
   with ``--ignore-requires-python``: it declares Python >= 3.13, this machine has 3.11 — it imports
   and runs here; see docs/hosting.md) and ``grpcio-tools``, which compiles the host's
   ``FunctionRpc.proto`` (``protos/``, from the worker's repository) into the messages the library
   takes. None of these is a dependency of durable-azure.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: The Functions Python worker library, and the gRPC tools its own test set-up pins.
WORKER_PACKAGES = ["azure-functions-runtime==1.3.0", "grpcio-tools~=1.70.0", "protobuf~=5.29.0"]
APP_FILES = ("function_app.py", "host.json", "requirements.txt")


@dataclass(frozen=True)
class WorkerEnv:
    app_dir: Path
    python: Path
    protos: Path
    wheel: Path

    def fake_host(self) -> list[str]:
        return [str(self.python), str(HERE / "fake_host.py"), str(self.app_dir), "--protos", str(self.protos)]


def _run(command: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def build(base: Path) -> WorkerEnv:
    app = base / "app"
    app.mkdir(parents=True)
    for name in APP_FILES:
        shutil.copy(REPO / name, app / name)
    _run([sys.executable, "-c", "from durable_azure.cli import main; main()", "package", str(app)])
    wheel = next((app / "wheels").glob("durable_azure-*.whl"))
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-r", "requirements.txt"], cwd=app)
    _run([*pip, "--ignore-requires-python", *WORKER_PACKAGES])
    protos = base / "protos"
    shutil.copytree(HERE / "protos", protos, ignore=shutil.ignore_patterns("LICENSE", "*.md"))
    sources = ["FunctionRpc.proto", "shared/NullableTypes.proto", "identity/ClaimsIdentityRpc.proto"]
    _run(
        [str(python), "-m", "grpc_tools.protoc", f"-I{protos}", f"--python_out={protos}", *sources],
        cwd=protos,
    )
    return WorkerEnv(app_dir=app, python=python, protos=protos, wheel=wheel)

"""Installing ``uvx://`` and ``npx://`` packages before a server starts.

A server in a ``none`` sandbox has no network and a read-only filesystem, so it cannot download
itself the way ``uvx``/``npx`` do on first use. Instead every package version gets its own install
directory under ``<cache>/toolhive/process/`` (``uv tool install`` with ``UV_TOOL_DIR`` pointing
there; ``npm install --prefix``), filled by the installer — which alone has the network, and which
runs in a sandbox of its own that may write only to that directory and the package caches. The
server then runs the installed executable directly, offline, with the directory bound read-only.

An install is complete once its marker file exists; a directory without one (an interrupted
install) is wiped and redone. A lock file beside each directory serialises concurrent installs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

from toolhive.contracts import ImageNotFoundError, RuntimeUnavailableError, storage
from toolhive.contracts.runtime import ProgressCallback
from toolhive.contracts.storage import locked, write_atomic

from toolhive_runtime_process import sandbox
from toolhive_runtime_process.commands import PackageRef

MARKER = ".toolhive-install.json"
INSTALL_TIMEOUT = 900.0

#: Variables an installer may need from the user's environment (indexes, proxies, CAs, auth).
_INSTALLER_PREFIXES = ("UV_", "PIP_", "NPM_", "npm_config_", "NODE_", "SSL_CERT_")
_INSTALLER_NAMES = {
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "TZ",
    "NETRC",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
}


@dataclass(frozen=True)
class Installed:
    """A package ready to run offline."""

    ref: PackageRef
    root: Path
    executable: Path
    version: str | None
    #: Directories besides ``root`` the executable needs (e.g. the base Python's prefix).
    needs: tuple[Path, ...] = ()


def cache_root() -> Path:
    return storage.cache_dir() / "process"


def hidden_state_dirs() -> list[Path]:
    """ToolHive's own state (secrets, run configs, logs): never visible inside a sandbox."""
    return [storage.data_dir(), storage.config_dir(), storage.state_dir()]


def installer_environ(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in environ.items()
        if k in _INSTALLER_NAMES or k.startswith(("LC_", *_INSTALLER_PREFIXES))
    }


def _key(ref: PackageRef) -> str:
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{ref.name}-{ref.version or 'latest'}").strip("_")
    digest = sha256(f"{ref.scheme}:{ref.requirement}".encode()).hexdigest()[:10]
    return f"{label}-{digest}"


class PackageInstaller:
    """Installs packages into per-version directories, sandboxed when ``bwrap`` is given."""

    def __init__(self, *, bwrap: str | None, environ: Mapping[str, str] | None = None) -> None:
        self._bwrap = bwrap
        self._environ = dict(os.environ if environ is None else environ)

    # ------------------------------------------------------------------ public

    def install_dir(self, ref: PackageRef) -> Path:
        sub = "uv/tools" if ref.scheme == "uvx" else "npm/packages"
        return cache_root() / sub / _key(ref)

    def installed(self, ref: PackageRef) -> Installed | None:
        """The finished install of ``ref``, or ``None``."""
        root = self.install_dir(ref)
        try:
            marker = json.loads((root / MARKER).read_text())
        except (OSError, ValueError):
            return None
        executable = Path(marker.get("executable", ""))
        if not executable.is_file():
            return None
        needs = tuple(Path(p) for p in marker.get("needs", []))
        return Installed(ref, root, executable, marker.get("version"), needs)

    def ensure(self, ref: PackageRef, progress: ProgressCallback | None = None) -> Installed:
        """Return the install of ``ref``, installing it first if needed."""
        found = self.installed(ref)
        if found is not None:
            return found
        root = self.install_dir(ref)
        root.parent.mkdir(parents=True, exist_ok=True)
        with locked(root):
            found = self.installed(ref)  # another process may have finished meanwhile
            if found is not None:
                return found
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            try:
                result = (
                    self._install_uv(ref, root, progress)
                    if ref.scheme == "uvx"
                    else (self._install_npm(ref, root, progress))
                )
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)
                raise
            marker = {
                "requirement": ref.requirement,
                "scheme": ref.scheme,
                "executable": str(result.executable),
                "version": result.version,
                "needs": [str(p) for p in result.needs],
                "installed_at": datetime.now(UTC).isoformat(),
            }
            write_atomic(root / MARKER, json.dumps(marker, indent=2), mode=0o644)
            if progress:
                progress(f"installed {ref.name} {result.version or ''}".rstrip())
            return result

    # ------------------------------------------------------------------ uv

    def _uv_dirs(self) -> tuple[Path, Path]:
        base = cache_root() / "uv"
        cache = Path(self._environ.get("UV_CACHE_DIR") or base / "cache")
        pythons = Path(self._environ.get("UV_PYTHON_INSTALL_DIR") or base / "python")
        return cache, pythons

    def _install_uv(
        self, ref: PackageRef, root: Path, progress: ProgressCallback | None
    ) -> Installed:
        uv = shutil.which("uv", path=self._environ.get("PATH"))
        if uv is None:
            msg = (
                f"{ref} needs uv to install it: pip install uv (or see https://docs.astral.sh/uv/)"
            )
            raise RuntimeUnavailableError(msg)
        cache, pythons = self._uv_dirs()
        env = installer_environ(self._environ) | {
            "UV_TOOL_DIR": str(root),
            "UV_TOOL_BIN_DIR": str(root / "bin"),
            "UV_CACHE_DIR": str(cache),
            "UV_PYTHON_INSTALL_DIR": str(pythons),
            "UV_NO_PROGRESS": "1",
        }
        # The sandbox cannot write __pycache__: compile now, or every start recompiles everything.
        argv = [uv, "tool", "install", "--compile-bytecode", ref.requirement]
        self._run(ref, "uv", argv, env, root, writable=[root, cache, pythons], progress=progress)
        executable = root / "bin" / ref.executable
        if not executable.is_file():
            provided = sorted(p.name for p in (root / "bin").glob("*"))
            msg = (
                f"{ref}: the package provides no executable named {ref.executable!r}"
                + (f" (it provides: {', '.join(provided)})" if provided else "")
                + "; run the right package or give a plain command instead"
            )
            raise ImageNotFoundError(msg)
        needs: list[Path] = []
        for python in root.glob("*/bin/python"):
            base = python.resolve()
            if not base.is_relative_to(root):
                needs.append(base.parent.parent)  # <prefix>/bin/python3.x → <prefix>
        return Installed(ref, root, executable, _python_version(root, ref), tuple(needs))

    # ------------------------------------------------------------------ npm

    def _install_npm(
        self, ref: PackageRef, root: Path, progress: ProgressCallback | None
    ) -> Installed:
        npm = shutil.which("npm", path=self._environ.get("PATH"))
        if npm is None:
            msg = f"{ref} needs Node.js and npm to install it: apt-get install nodejs npm"
            raise RuntimeUnavailableError(msg)
        user_cache = self._environ.get("npm_config_cache") or self._environ.get("NPM_CONFIG_CACHE")
        cache = Path(user_cache or cache_root() / "npm" / "cache")
        cache.mkdir(parents=True, exist_ok=True)
        (root / "package.json").write_text(
            '{"name": "toolhive-process-install", "private": true}\n'
        )
        env = {k: v for k, v in installer_environ(self._environ).items() if k != "NPM_CONFIG_CACHE"}
        env |= {
            "npm_config_cache": str(cache),
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
        }
        argv = [npm, "install", "--prefix", str(root), "--no-package-lock", ref.requirement]
        self._run(ref, "npm", argv, env, root, writable=[root, cache], progress=progress)
        meta_path = root / "node_modules" / ref.name / "package.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            msg = f"{ref}: npm finished but {meta_path} is unreadable ({exc})"
            raise ImageNotFoundError(msg) from None
        name = _npm_bin(ref, meta.get("bin"))
        executable = root / "node_modules" / ".bin" / name
        if not executable.exists():
            msg = f"{ref}: npm did not link the package's executable {name!r}"
            raise ImageNotFoundError(msg)
        version = meta.get("version")
        return Installed(ref, root, executable, version if isinstance(version, str) else None)

    # ------------------------------------------------------------------ shared

    def _run(
        self,
        ref: PackageRef,
        tool: str,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        *,
        writable: list[Path],
        progress: ProgressCallback | None,
    ) -> None:
        for path in writable:
            path.mkdir(parents=True, exist_ok=True)
        if self._bwrap is not None:
            argv = sandbox.installer_argv(
                self._bwrap, argv, writable=writable, hidden=hidden_state_dirs()
            )
        if progress:
            progress(f"installing {ref.requirement} with {tool}")
        tail: list[str] = []
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            msg = f"could not start {tool} to install {ref}: {exc}"
            raise RuntimeUnavailableError(msg) from None
        assert proc.stdout is not None
        with proc:
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                if not line or "is not on your PATH" in line:
                    continue  # uv's hint about UV_TOOL_BIN_DIR: we never put it on PATH
                tail = [*tail[-19:], line]
                if progress:
                    progress(line)
            code = proc.wait(timeout=INSTALL_TIMEOUT)
        if code != 0:
            reason = _failure_reason(tail) or f"{tool} exited with status {code}"
            msg = f"could not install {ref} with {tool}: {reason}"
            raise ImageNotFoundError(msg)


def _failure_reason(tail: list[str]) -> str:
    for line in reversed(tail):
        text = line.strip()
        if text.startswith(("error:", "npm error", "npm ERR!", "\u00d7", "\u2570\u2500\u25b6")):
            return text
    return " | ".join(t.strip() for t in tail[-3:])


def _python_version(root: Path, ref: PackageRef) -> str | None:
    dist = re.sub(r"[-_.]+", "_", ref.executable).lower()
    for info in root.glob("*/lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        if re.sub(r"[-_.]+", "_", name).lower() == dist:
            return version
    return ref.version


def _npm_bin(ref: PackageRef, bins: object) -> str:
    """The executable ``npx`` would run: the only ``bin`` entry, or the one named after the
    package."""
    if isinstance(bins, str):
        return ref.executable
    if isinstance(bins, dict) and bins:
        if len(bins) == 1:
            return str(next(iter(bins)))
        if ref.executable in bins:
            return ref.executable
        msg = (
            f"{ref} provides several executables ({', '.join(sorted(bins))}) and none is named "
            f"{ref.executable!r}; run the one you want as a plain command"
        )
        raise ImageNotFoundError(msg)
    msg = f"{ref}: the npm package provides no executable (no 'bin' in its package.json)"
    raise ImageNotFoundError(msg)

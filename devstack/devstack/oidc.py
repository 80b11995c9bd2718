"""The local OIDC provider: npm `oauth2-mock-server` behind Keycloak's paths (devstack/oidc/).

Its npm packages are installed from the committed package-lock.json on first use; its RSA
signing key is generated at first start into the process's data folder (never committed)."""

import shutil
import subprocess
from pathlib import Path

from devstack.errors import StackError
from devstack.paths import ProcessPaths
from devstack.profiles import Profile
from devstack.progress import Progress
from devstack.system_packages import apt_install

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "oidc"
NPM_TIMEOUT_SECONDS = 300


def node_program(name: str, progress: Progress) -> str:
    found = shutil.which(name)
    if found is None:
        apt_install("oidc", "nodejs" if name == "node" else "npm", progress)
        found = shutil.which(name)
    if found is None:
        raise StackError(
            "oidc",
            f"{name} is not installed; the local OIDC provider needs Node.js 20 or newer and npm",
        )
    return found


def ensure_packages(progress: Progress, provider_dir: Path = PROVIDER_DIR) -> None:
    """`npm ci` (the committed lock file) when node_modules is missing."""
    if (provider_dir / "node_modules" / "oauth2-mock-server").is_dir():
        return
    npm = node_program("npm", progress)
    command = [npm, "ci", "--no-audit", "--no-fund"]
    progress.event(f"oidc installing npm packages: {' '.join(command)} (in {provider_dir})")
    try:
        # npm's output goes to our stderr: progress, never mixed into the CLI's stdout.
        result = subprocess.run(
            command, cwd=provider_dir, stdout=2, stderr=2, check=False, timeout=NPM_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError("oidc", f"`npm ci` took longer than {NPM_TIMEOUT_SECONDS}s") from exc
    if result.returncode != 0:
        raise StackError("oidc", f"`{' '.join(command)}` failed ({result.returncode})")


def command(profile: Profile, paths: ProcessPaths, progress: Progress) -> list[str]:
    ensure_packages(progress)
    return [
        node_program("node", progress),
        str(PROVIDER_DIR / "server.js"),
        "--host",
        profile.host,
        "--port",
        str(profile.oidc_port),
        "--realm",
        profile.oidc_realm,
        "--jwk",
        str(paths.data / "jwk.json"),
    ]


DEMO_USERS = ("admin", "customer", "customer2")
DEMO_CLIENT = "ecommerce-app"


def password_grant(
    issuer: str, username: str, password: str | None = None, client_id: str = DEMO_CLIENT
) -> str:
    """An access token for a demo user (password grant, as scripts use against Keycloak)."""
    import httpx

    reply = httpx.post(
        f"{issuer}/protocol/openid-connect/token",
        timeout=10,
        data={
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": password or username,
        },
    )
    if reply.status_code != 200:
        raise StackError("oidc", f"token request answered {reply.status_code}: {reply.text[:200]}")
    return str(reply.json()["access_token"])

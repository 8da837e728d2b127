"""`python:3.11-slim`, pulled where a registry serves it, else made from Debian's packages.

Some machines reach package registries but no container registry. There the base is
made with mmdebstrap from Debian 12 (bookworm, the release the official image is built
on) and imported under the official name, so the unchanged `FROM python:3.11-slim`
resolves locally (`--pull=never`). It differs from the official image in ways the
Dockerfile does not notice: Debian's Python 3.11 in /usr/bin, installing into
`dist-packages`. Made once per package list: the list's hash is a label on the image.

Also, as anyone building behind a TLS-inspecting proxy does, the made base trusts the
host's extra certificate authorities (/usr/local/share/ca-certificates), and pip in it
uses the system bundle; without both, `pip install` in a build step cannot reach PyPI
where downloads go through such a proxy.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from deploy.engine import Engine, EngineMissing

BASE = "docker.io/library/python:3.11-slim"
LABEL = "ragchat.base-packages"
SUITE = "bookworm"
# python3-dev: the official image has Python's headers, and builds compile against them.
PACKAGES = (
    "python3",
    "python3-pip",
    "python3-venv",
    "python3-dev",
    "python-is-python3",
    "ca-certificates",
)
SOURCES = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
HOST_CAS = Path("/usr/local/share/ca-certificates")
PIP_CONF = "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"
# As in Debian's official images: apt keeps no .deb files nor its 80 MB package caches
# in the layer of an `apt-get install`.
_APT_RM = '"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true";'
APT_CLEAN = (
    f"DPkg::Post-Invoke {{ {_APT_RM} }};\n"
    f"APT::Update::Post-Invoke {{ {_APT_RM} }};\n"
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'
)
ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
)


def host_cas() -> list[Path]:
    return sorted(p for p in HOST_CAS.glob("**/*.crt") if p.is_file())


def package_key() -> str:
    """What the made base consists of: packages, sources, what the hooks do, the CAs."""
    text = "\n".join([SUITE, *PACKAGES, *SOURCES, *hooks(), *ENV])
    text += "".join(p.name + p.read_text(errors="replace") for p in host_cas())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _label(engine: Engine) -> str | None:
    """The package key of the local base, "" for one not made here, None for none."""
    if not engine.ok("image", "inspect", BASE):  # `image exists` is podman's alone
        return None
    label = engine.output(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}', BASE
    )
    return "" if label in ("", "<no value>") else label


def pull(engine: Engine) -> bool:
    """True if a registry served the official image (a closed network says no at once)."""
    try:
        return engine.ok("pull", "--quiet", BASE, timeout=600)
    except subprocess.TimeoutExpired:
        return False


def hooks() -> list[str]:
    """mmdebstrap's customize hooks ("$1" is the root folder): what the base gets beyond
    its packages."""
    steps = [
        'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
        f"printf '{PIP_CONF}' > \"$1\"/etc/pip.conf",
        f"printf '{APT_CLEAN}' > \"$1\"/etc/apt/apt.conf.d/docker-clean",
        'rm -f "$1"/var/cache/apt/*.bin',
    ]
    cas = host_cas()
    if cas:
        steps += [
            'mkdir -p "$1"/usr/local/share/ca-certificates/host',
            *(f'cp {p} "$1"/usr/local/share/ca-certificates/host/' for p in cas),
            'chroot "$1" update-ca-certificates',
        ]
    return steps


def make_rootfs(target: Path) -> None:
    """Debian bookworm, minbase, the packages above, host CAs, pip on the system bundle."""
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise EngineMissing("mmdebstrap is missing: apt-get install mmdebstrap")
    argv = [
        mmdebstrap,
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        *(f"--customize-hook={hook}" for hook in hooks()),
        SUITE,
        str(target),
        *SOURCES,
    ]
    subprocess.run(argv, check=True)


def ensure_base(engine: Engine, log=print) -> str:
    """Make `python:3.11-slim` resolvable locally; says how it came to be there."""
    key = package_key()
    present = _label(engine)
    if present == "" or present == key:
        return "present"
    if present is None and pull(engine):
        return "pulled"
    started = time.perf_counter()
    log(f"no registry serves {BASE}: making it from Debian packages (about a minute)")
    with tempfile.TemporaryDirectory(prefix="ragchat-base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        make_rootfs(rootfs)
        changes = [f"ENV {e}" for e in ENV] + [f"LABEL {LABEL}={key}", 'CMD ["python3"]']
        engine.run("import", *(a for c in changes for a in ("--change", c)), str(rootfs), BASE)
    log(f"made {BASE} from Debian {SUITE} in {time.perf_counter() - started:.0f} s")
    return "made"


if __name__ == "__main__":
    from deploy.engine import find_engine

    print(ensure_base(find_engine()))

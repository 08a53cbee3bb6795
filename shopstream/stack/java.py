"""Finding JDKs: Kafka and Connect need 17+, Apicurio Registry 3.3 needs 21+."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shopstream.errors import MissingPrerequisite

JVM_ROOT = Path("/usr/lib/jvm")
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


@dataclass(frozen=True)
class Jdk:
    java: Path
    major: int

    @property
    def home(self) -> Path:
        return self.java.resolve().parent.parent


def java_major(java: Path) -> int | None:
    """The major version `java -version` reports (8 for 1.8), or None if it does not run."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except OSError:
        return None
    match = _VERSION.search(out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _candidates(preferred: Path | None) -> list[Path]:
    found: list[Path] = []
    if preferred is not None:
        found.append(preferred / "bin" / "java")
    if os.environ.get("JAVA_HOME"):
        found.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path))
    if JVM_ROOT.is_dir():
        found.extend(sorted(JVM_ROOT.glob("*/bin/java")))
    return found


def find_jdk(min_major: int, preferred: Path | None, setting: str, *, newest: bool = False) -> Jdk:
    """The preferred JDK if given (it must qualify), else the first (or newest) JDK >= min_major."""
    if preferred is not None:
        major = java_major(preferred / "bin" / "java")
        if major is None or major < min_major:
            raise MissingPrerequisite(
                f"{setting}={preferred} is not a JDK {min_major}+ (java -version gave {major})",
                f"point it at one, or unset it to search JAVA_HOME, PATH and {JVM_ROOT}",
            )
        return Jdk(preferred / "bin" / "java", major)
    qualifying = [
        Jdk(java, major)
        for java in dict.fromkeys(_candidates(None))
        if (major := java_major(java)) is not None and major >= min_major
    ]
    if not qualifying:
        raise MissingPrerequisite(
            f"no Java {min_major}+ found (looked at JAVA_HOME, PATH and {JVM_ROOT})",
            f"install one (as root: apt-get install openjdk-17-jre-headless, or run scripts/setup.sh) "
            f"or set {setting} to a JDK's home",
        )
    return max(qualifying, key=lambda jdk: jdk.major) if newest else qualifying[0]

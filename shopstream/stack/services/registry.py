"""Apicurio Registry 3.x, serving the Confluent Schema Registry API at /apis/ccompat/v7.

Schemas are stored in the stack's MariaDB (database ``apicurio_registry``), so they survive
`stack down` / `stack up`. Apicurio 3.3 needs Java 21+: the newest JDK under /usr/lib/jvm is used.

Authentication without an identity server: HTTP basic auth against Quarkus' embedded users (one per
registry role of the settings' user infos) with Apicurio's role-based authorization: the admin user
``sr-admin``, Connect's ``sr-developer`` (the CDC source registers its schema), the readers
``sr-readonly`` (a lookup is a read). Users, passwords and roles reach it through its environment,
never its command line. ``system/info`` and the management port (health, metrics) stay public, on
loopback. Quarkus calls this realm one for development and tests: a production registry uses OIDC
(see the README).
"""

from __future__ import annotations

import requests

from shopstream.clients.registry import registry_client
from shopstream.errors import StackError
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.services.mariadb import REGISTRY_DATABASE
from shopstream.stack.supervisor import Program


def management_port(ctx: StackContext) -> int:
    return ctx.settings.registry.port + 1


def environment(ctx: StackContext) -> dict[str, str]:
    s = ctx.settings
    # Quarkus maps APICURIO_X_Y to apicurio.x.y; the password stays out of the process list.
    return {
        "QUARKUS_HTTP_HOST": "127.0.0.1",
        "QUARKUS_HTTP_PORT": str(s.registry.port),
        # Quarkus' management interface (health, metrics) is built in: keep it on loopback too.
        "QUARKUS_MANAGEMENT_HOST": "127.0.0.1",
        "QUARKUS_MANAGEMENT_PORT": str(management_port(ctx)),
        "APICURIO_STORAGE_KIND": "sql",
        "APICURIO_STORAGE_SQL_KIND": "mysql",
        "APICURIO_DATASOURCE_URL": f"jdbc:mysql://127.0.0.1:{s.mysql.port}/{REGISTRY_DATABASE}",
        "APICURIO_DATASOURCE_USERNAME": s.mysql.user,
        "APICURIO_DATASOURCE_PASSWORD": s.mysql.password.get_secret_value(),
        # Subjects and versions can be deleted through the ccompat API (tests and `schemas` rely on it).
        "APICURIO_REST_DELETION_ARTIFACT_ENABLED": "true",
        "APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED": "true",
        "APICURIO_REST_DELETION_GROUP_ENABLED": "true",
        **auth_environment(ctx),
    }


ROLES = {"admin": "sr-admin", "connect": "sr-developer", "reader": "sr-readonly"}


def auth_environment(ctx: StackContext) -> dict[str, str]:
    """Basic auth with embedded users and role-based authorization, when the settings have registry
    user infos (none: an open registry, as before)."""
    logins = {role: ctx.settings.registry.login(role) for role in ROLES}  # type: ignore[arg-type]
    if logins["admin"] is None:
        return {}
    env = {
        "QUARKUS_HTTP_AUTH_BASIC": "true",
        "QUARKUS_SECURITY_USERS_EMBEDDED_ENABLED": "true",
        "QUARKUS_SECURITY_USERS_EMBEDDED_PLAIN_TEXT": "true",
        "APICURIO_AUTH_ROLE_BASED_AUTHORIZATION": "true",
        "APICURIO_AUTH_ROLE_SOURCE": "token",
    }
    roles: dict[str, list[str]] = {}
    for role, login in logins.items():
        if login is None:
            continue
        if not login.user.isalnum() or login.user != login.user.lower():
            raise StackError(
                f"registry user '{login.user}' ({login.settings}): the local registry takes users of "
                "lower-case letters and digits (Quarkus reads them from environment variables)",
                login.hint,
            )
        env[f"QUARKUS_SECURITY_USERS_EMBEDDED_USERS_{login.user.upper()}"] = login.secret
        roles.setdefault(login.user, []).append(ROLES[role])
    for user, granted in roles.items():
        env[f"QUARKUS_SECURITY_USERS_EMBEDDED_ROLES_{user.upper()}"] = ",".join(sorted(set(granted)))
    return env


def _probe(ctx: StackContext) -> str:
    s = ctx.settings
    registry_client(
        s.registry, "reader", timeout_s=3
    ).check_reachable()  # names address, setting, refused login
    info = requests.get(f"{s.registry.base_url}/apis/registry/v3/system/info", timeout=3)
    return str(info.json().get("version", "?")) if info.ok else "?"


def service(ctx: StackContext) -> Service:
    def program() -> Program:
        jar = ctx.artifacts.registry_jar
        return Program(
            "registry",
            [
                str(ctx.registry_jdk.java),
                f"-Xmx{ctx.settings.registry.heap}",
                "-XX:+UseG1GC",
                "-Djava.net.preferIPv4Stack=true",
                "-jar",
                str(jar),
            ],
            environment=environment(ctx),
            directory=ctx.paths.service_dir("registry"),
            restart=RestartPolicy(startsecs=10),
        )

    return Service(
        name="registry",
        ports={
            ctx.settings.registry.port: "SHOPSTREAM_SCHEMA_REGISTRY_URL",
            management_port(ctx): "SHOPSTREAM_SCHEMA_REGISTRY_URL (management = port+1)",
        },
        program=program,
        probe=lambda: _probe(ctx),
    )

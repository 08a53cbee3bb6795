"""Spark's standalone cluster manager as services of the local stack: a master and its workers.

The stack runs them when the Spark master is ``spark://127.0.0.1:PORT`` (the cluster profile): the
pyspark wheel's own jars (``pyspark/jars``, no ``start-master.sh`` in a wheel), started as
``org.apache.spark.deploy.master.Master`` and ``...deploy.worker.Worker spark://...``, everything on
127.0.0.1 (``SPARK_LOCAL_IP``: the web UIs too). Each worker offers ``SHOPSTREAM_SPARK_WORKER_SLOTS``
task slots and ``SHOPSTREAM_SPARK_WORKER_MEMORY``; an application caps itself with ``spark.cores.max``
(``spark_job.slots``). With ``SHOPSTREAM_SPARK_AUTH_SECRET`` set, master, workers and applications
authenticate each other (``spark.authenticate``; the secret reaches the daemons in a mode-600
properties file, never a command line).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import requests

from shopstream.errors import StackError
from shopstream.settings import Settings
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.services.jvm import properties_value, write_secret
from shopstream.stack.supervisor import Program

MASTER = "spark-master"


def _pyspark_home() -> Path:
    """The pyspark wheel's directory (its ``jars/``), found without importing pyspark (every command
    builds the stack's services)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("pyspark is not installed", "run scripts/setup.sh")
    return Path(spec.submodule_search_locations[0])


def _version() -> str:
    return importlib.metadata.version("pyspark")


def worker_name(index: int) -> str:
    return f"spark-worker-{index + 1}"


def local_master(settings: Settings) -> tuple[str, int] | None:
    """(host, port) of the standalone master the local stack runs; None when it runs none."""
    found = settings.spark.standalone
    return found if found is not None and found[0] in ("127.0.0.1", "localhost") else None


def worker_ui_port(settings: Settings, index: int) -> int:
    return settings.spark.cluster_ui_port + 1 + index


def _ui(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _master_json(settings: Settings) -> dict[str, object]:
    url = f"{_ui(settings.spark.cluster_ui_port)}/json/"
    try:
        resp = requests.get(url, timeout=3)
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise StackError(
            f"the Spark standalone master's UI does not answer at {url} ({type(exc).__name__})",
            "is it running (`shopstream stack status`)? SHOPSTREAM_SPARK_CLUSTER_UI_PORT moves it",
        ) from exc
    found: dict[str, object] = resp.json()
    return found


def cores_in_use(settings: Settings) -> int:
    """Task slots the master's applications hold now (their executors' cores)."""
    used = _master_json(settings).get("coresused")
    return used if isinstance(used, int) else 0


def _probe_master(ctx: StackContext) -> str:
    state = _master_json(ctx.settings).get("status")
    if state != "ALIVE":
        raise StackError(f"the Spark standalone master is {state}, not ALIVE")
    return _version()


def _probe_worker(ctx: StackContext, index: int) -> str:
    """ALIVE in the master's list of workers (registered, heartbeating), found by its web UI port."""
    if alive_worker(ctx.settings, index) is None:
        ui = _ui(worker_ui_port(ctx.settings, index))
        raise StackError(f"Spark worker {index + 1} ({ui}) is not an ALIVE worker of the master")
    return _version()


def workers(settings: Settings) -> dict[str, tuple[str, str]]:
    """The master's workers: id -> (state, web UI address)."""
    listed = _master_json(settings).get("workers")
    return {
        str(w.get("id")): (str(w.get("state")), str(w.get("webuiaddress")))
        for w in (listed if isinstance(listed, list) else [])
    }


def alive_worker(settings: Settings, index: int) -> str | None:
    """The id of the ``index``-th local worker, when the master has it ALIVE."""
    ui = _ui(worker_ui_port(settings, index))
    found = [id_ for id_, (state, addr) in workers(settings).items() if addr == ui and state == "ALIVE"]
    return found[0] if found else None


def _properties(ctx: StackContext, name: str) -> Path:
    """The daemon's Spark properties (mode 600: the shared secret)."""
    # no REST submission server (it would take applications without the secret); a UI that kills nothing
    props = {"spark.master.rest.enabled": "false", "spark.ui.killEnabled": "false"}
    secret = ctx.settings.spark.auth_secret.get_secret_value()
    if secret:
        props |= {"spark.authenticate": "true", "spark.authenticate.secret": secret}
    path = ctx.paths.service_dir(name) / "spark.properties"
    write_secret(path, "".join(f"{k}={properties_value(v)}\n" for k, v in props.items()))
    return path


def _program(ctx: StackContext, name: str, main: str, *args: str) -> Program:
    home, spark_home = ctx.paths.service_dir(name), _pyspark_home()
    return Program(
        name,
        [
            str(ctx.jdk.java),
            "-Xmx512m",
            "-Djava.net.preferIPv4Stack=true",
            "-cp",
            f"{spark_home / 'jars'}/*",
            main,
            "--properties-file",
            str(_properties(ctx, name)),
            *args,
        ],
        environment={
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_HOME": str(spark_home),  # the executors' classpath: $SPARK_HOME/jars
            # what the launcher would look up in a source build's directories: not in a wheel
            "SPARK_SCALA_VERSION": "2.13",
            "JAVA_HOME": str(ctx.jdk.home),
            "SPARK_WORKER_DIR": str(home / "work"),
            "SPARK_LOCAL_DIRS": str(home / "tmp"),
        },
        directory=home,
        restart=RestartPolicy(startsecs=5),
    )


def services(ctx: StackContext) -> list[Service]:
    """The master and ``SHOPSTREAM_SPARK_WORKERS`` workers, when the master is a local spark:// one."""
    master = local_master(ctx.settings)
    if master is None:
        return []
    s = ctx.settings
    url = f"spark://127.0.0.1:{master[1]}"
    found = [
        Service(
            name=MASTER,
            ports={
                master[1]: "SHOPSTREAM_SPARK_MASTER",
                s.spark.cluster_ui_port: "SHOPSTREAM_SPARK_CLUSTER_UI_PORT",
            },
            program=lambda: _program(
                ctx,
                MASTER,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(master[1]),
                "--webui-port",
                str(s.spark.cluster_ui_port),
            ),
            probe=lambda: _probe_master(ctx),
        )
    ]
    return [*found, *(_worker(ctx, index, url) for index in range(s.spark.workers))]


def _worker(ctx: StackContext, index: int, master_url: str) -> Service:
    s, name = ctx.settings, worker_name(index)
    return Service(
        name=name,
        ports={worker_ui_port(s, index): "SHOPSTREAM_SPARK_CLUSTER_UI_PORT (workers: port + 1 + i)"},
        program=lambda: _program(
            ctx,
            name,
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            "127.0.0.1",
            "--cores",
            str(s.spark.worker_slots),
            "--memory",
            s.spark.worker_memory,
            "--webui-port",
            str(worker_ui_port(s, index)),
            "--work-dir",
            str(ctx.paths.service_dir(name) / "work"),
            master_url,
        ),
        probe=lambda: _probe_worker(ctx, index),
    )

"""Why a streaming query failed, from Spark's structured errors, never from message text.

Spark 4 errors carry an error condition and named message parameters (``SparkThrowable``). A query's
failure (``StreamingQuery.exception()``) wraps the error that stopped it, often inside a job abort
from an executor: ``failure_of`` walks the Java causes for the first condition it knows.

* ``schema_not_loaded``: the plan met a schema id above every id it knows (decode.py stops the query
  with ``raise_error``: condition USER_RAISED_EXCEPTION, our own ``errorMessage`` parameter, made and
  read here only);
* ``checkpoint_incompatible``: the checkpoint's state was written by another plan (a stateful
  operator added or changed, e.g. the KPI de-duplication on a checkpoint from before it): no restart
  can help;
* ``error``: anything else (restarted a few times by the runner).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from shopstream.jobstatus import Failure

SCHEMA_NOT_LOADED = "shopstream.schema_not_loaded:"
USER_RAISED = "USER_RAISED_EXCEPTION"
INCOMPATIBLE_STATE = frozenset(
    {
        "STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA",
        "STATE_STORE_KEY_SCHEMA_NOT_COMPATIBLE",
        "STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE",
        "STATE_STORE_COLUMN_FAMILY_SCHEMA_INCOMPATIBLE",
        "STATE_STORE_INVALID_VALUE_SCHEMA_EVOLUTION",
    }
)
MAX_CAUSES = 20


def stop_schema_not_loaded(schema_id: Column) -> Column:
    """Stops the query on a record whose schema id its plan does not know (decode.py)."""
    return F.raise_error(F.concat(F.lit(SCHEMA_NOT_LOADED), schema_id.cast("string")))


def classify(condition: str | None, parameters: dict[str, str]) -> Failure | None:
    """The failure one Spark error condition stands for; None when it is none of ours."""
    if condition == USER_RAISED:
        text = parameters.get("errorMessage", "")
        if text.startswith(SCHEMA_NOT_LOADED) and text.removeprefix(SCHEMA_NOT_LOADED).isdigit():
            schema_id = int(text.removeprefix(SCHEMA_NOT_LOADED))
            return Failure(
                kind="schema_not_loaded", message=f"schema id {schema_id} not loaded", schema_id=schema_id
            )
    if condition in INCOMPATIBLE_STATE:
        return Failure(kind="checkpoint_incompatible", message=condition)
    return None


def conditions(throwable: Any) -> list[tuple[str | None, dict[str, str]]]:
    """(condition, message parameters) of a Java throwable and its causes (py4j objects), outermost
    first; (None, {}) for a throwable that is no SparkThrowable."""
    found: list[tuple[str | None, dict[str, str]]] = []
    seen = 0
    while throwable is not None and seen < MAX_CAUSES:
        seen += 1
        try:
            condition = throwable.getCondition()
            parameters = {str(k): str(v) for k, v in dict(throwable.getMessageParameters()).items()}
        except Exception:  # not a SparkThrowable (py4j: no such method)
            condition, parameters = None, {}
        found.append((None if condition is None else str(condition), parameters))
        throwable = throwable.getCause()
    return found


def _java_throwable(exception: Any) -> Any:
    """The Java throwable behind a pyspark exception: its own (``_origin``), or, for a streaming
    query's failure, that of its cause (pyspark keeps the StreamingQueryException's cause only)."""
    origin = getattr(exception, "_origin", None)
    if origin is None:
        origin = getattr(getattr(exception, "_cause", None), "_origin", None)
    return origin


def failure_of(exception: Any) -> Failure:
    """The kind of a query's failure (``StreamingQuery.exception()``)."""
    message = str(exception).splitlines()[0][:500] if str(exception) else type(exception).__name__
    for condition, parameters in conditions(_java_throwable(exception)):
        failure = classify(condition, parameters)
        if failure is not None:
            return (
                failure
                if failure.kind == "schema_not_loaded"
                else failure.model_copy(update={"message": message})
            )
    return Failure(kind="error", message=message)

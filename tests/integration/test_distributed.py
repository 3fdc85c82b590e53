"""Distributed mode end to end: the API and several worker processes on PostgreSQL and a broker.

Real processes, real servers: ``taskcore serve`` takes the tasks, three ``taskcore worker``
processes execute them, and a loopback receiver counts the callbacks.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
import requests
import sqlalchemy as sa

from tests.support import brokers
from tests.support.databases import ScratchDatabases, empty_tables
from tests.support.metrics import samples
from tests.support.processes import free_port, output_of, running, start, stop, wait_for_http
from tests.support.receiver import CallbackReceiver
from tests.support.services import require

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(400)]
TASKS = 1000


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    databases = ScratchDatabases(tmp_path_factory.mktemp("distributed"))
    yield databases
    databases.drop_all()


@pytest.fixture
def database(scratch: ScratchDatabases) -> str:
    """The module's PostgreSQL database, emptied for each test."""
    url = scratch.url("postgresql")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        empty_tables(engine)
    finally:
        engine.dispose()
    return url


kafka_bootstrap = brokers.kafka_bootstrap
durable_tansu = brokers.durable_tansu


def environment(database: str, queue: str, queue_url: str, **extra: str) -> dict[str, str]:
    name = f"taskcore.e2e.{uuid4().hex[:8]}"
    return {
        "TASKCORE_CONFIG": "",
        "TASKCORE_STORE__BACKEND": "sql",
        "TASKCORE_STORE__URL": database,
        "TASKCORE_QUEUE__BACKEND": queue,
        "TASKCORE_QUEUE__URL": queue_url,
        "TASKCORE_QUEUE__NAME": name,
        "TASKCORE_QUEUE__GROUP": name,
        "TASKCORE_QUEUE__PARTITIONS": "3",
        "TASKCORE_LOG__LEVEL": "WARNING",
        **extra,
    }


def create_tasks(api: str, receiver: CallbackReceiver, count: int) -> list[str]:
    session = requests.Session()

    def create(index: int) -> str:
        body = {"name": f"job-{index}", "callbackUrl": receiver.url("/ok"), "payload": {"i": index}}
        answer = session.post(f"{api}/api/v1/tasks", json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["taskId"])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(create, range(count)))


def completed(api: str) -> int:
    answer = requests.get(f"{api}/api/v1/tasks?status=Completed&size=1", timeout=30)
    return int(answer.json()["totalCount"])


def by_status(api: str) -> dict[str, int]:
    statuses = ("Queued", "Pending", "Processing", "Completed", "Failed", "Cancelled")
    return {
        s: requests.get(f"{api}/api/v1/tasks?status={s}&size=1", timeout=30).json()["totalCount"]
        for s in statuses
    }


def wait_for_completion(api: str, count: int, timeout_s: float = 100) -> None:
    deadline = time.monotonic() + timeout_s
    while completed(api) < count:
        assert time.monotonic() < deadline, f"not all {count} completed: {by_status(api)}"
        time.sleep(0.5)


def run_everything(
    env: dict[str, str],
    receiver: CallbackReceiver,
    fault: object = None,
    *,
    while_creating: bool = True,
) -> Counter[str]:
    """Create the tasks with 3 workers running, strike with ``fault`` once a quarter is
    done, and wait for all. With ``while_creating`` the fault strikes while tasks are still
    being created; otherwise every task is created (and published) before the workers
    start, so that the fault strikes only the consumers."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], f"{api}/health/live", env=env):
        workers: list[subprocess.Popen[bytes]] = []
        try:
            with ThreadPoolExecutor(1) as creating:
                if while_creating:
                    workers = [start(["worker", "--concurrency", "4"], env) for _ in range(3)]
                creation = creating.submit(create_tasks, api, receiver, TASKS)
                if not while_creating:
                    creation.result()
                    workers = [start(["worker", "--concurrency", "4"], env) for _ in range(3)]
                if callable(fault):
                    fault(api)
                ids = creation.result()
            wait_for_completion(api, TASKS)
        finally:
            # A worker exits within seconds of SIGTERM, Kafka ones in a rebalance included.
            codes = [stop(worker, timeout_s=10) for worker in workers]
            if env["TASKCORE_QUEUE__BACKEND"] == "rabbitmq":
                brokers.delete_rabbitmq_queue(env["TASKCORE_QUEUE__NAME"])
    assert codes == [0, 0, 0], [output_of(worker) for worker in workers]
    seen = Counter(call.json["taskId"] for call in receiver.calls_to("/ok"))
    assert set(seen) == set(ids)
    return seen


def wait_for_a_quarter(api: str) -> None:
    """Return once a quarter of the tasks are done and the rest are not."""
    deadline = time.monotonic() + 120
    while completed(api) < TASKS // 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert completed(api) < TASKS, "every task was done before the broker restart"


def test_a_thousand_tasks_on_postgres_and_rabbitmq_are_each_called_back_once_across_a_restart(
    database: str, receiver: CallbackReceiver
) -> None:
    """1,000 tasks created through the API, 3 worker processes, and the broker stopped and
    started once a quarter are done: every task Completed, every callback exactly once."""
    require("rabbitmq")

    def restart_broker(api: str) -> None:
        wait_for_a_quarter(api)
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
        time.sleep(2)
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "await_startup"], check=False, capture_output=True)

    env = environment(database, "rabbitmq", brokers.RABBITMQ_URL)
    seen = run_everything(env, receiver, fault=restart_broker)
    assert max(seen.values()) == 1


def test_a_thousand_tasks_on_postgres_and_kafka_are_each_called_back_once_across_a_restart(
    database: str, receiver: CallbackReceiver, durable_tansu: brokers.TansuBroker
) -> None:
    """The same on Kafka: Tansu on durable (S3) storage, restarted on the same port.

    The restart strikes the consumers only: Tansu 0.6 acknowledges a produce before its S3
    storage holds it, so a restart can lose messages it had just acknowledged (seen here:
    the tail of a partition gone, its offsets given to new messages). No client can tell;
    ``queue.republish_on_start`` restores such tasks' messages when a worker starts.
    """

    def restart_broker(api: str) -> None:
        wait_for_a_quarter(api)
        durable_tansu.restart(down_s=2)

    env = environment(database, "kafka", durable_tansu.bootstrap)
    seen = run_everything(env, receiver, fault=restart_broker, while_creating=False)
    assert max(seen.values()) == 1


WORKER_SERIES = (
    "taskcore_callbacks_total",
    "taskcore_callback_duration_seconds_count",
    "taskcore_executions_in_flight",
    "taskcore_worker_tasks_executed_total",
)


def scraped(url: str, name: str) -> dict[str, float]:
    """The samples of one series of a metrics endpoint, by their only label value (or "")."""
    found = samples(requests.get(url, timeout=30).text)
    return {next(iter(s.labels.values()), ""): s.value for s in found if s.name == name}


def wait_for_call(receiver: CallbackReceiver, path: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not receiver.calls_to(path):
        assert time.monotonic() < deadline, f"no callback reached {path}"
        time.sleep(0.05)


def wait_for_status(api: str, task_id: str, status: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while (task := requests.get(f"{api}/api/v1/tasks/{task_id}", timeout=30).json())[
        "status"
    ] != status:
        assert time.monotonic() < deadline, f"task stayed {task['status']}, wanted {status}"
        time.sleep(0.2)
    return task


SHORT_LEASES = {
    "TASKCORE_CALLBACKS__TIMEOUT_S": "3",
    "TASKCORE_EXECUTION__LEASE_MARGIN_S": "1",
    "TASKCORE_EXECUTION__REAPER_INTERVAL_S": "0.5",
}


def test_a_worker_killed_mid_callback_leaves_no_task_stuck_in_processing(
    database: str, receiver: CallbackReceiver
) -> None:
    env = environment(database, "sql", "", **SHORT_LEASES)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], f"{api}/health/live", env=env):
        worker = start(["worker", "--concurrency", "1"], env)
        try:
            body = {"name": "hangs", "callbackUrl": receiver.url("/sleep/20")}
            task_id = requests.post(f"{api}/api/v1/tasks", json=body, timeout=30).json()["taskId"]
            wait_for_call(receiver, "/sleep/20")
            assert (
                requests.get(f"{api}/api/v1/tasks/{task_id}", timeout=30).json()["status"]
                == "Processing"
            )
        finally:
            stop(worker, signal.SIGKILL)
        failed = wait_for_status(api, task_id, "Failed", timeout_s=30)
        reaped = scraped(f"{api}/metrics", "taskcore_executions_reaped_total")
    assert failed["callbackResult"]["error"] == "execution lost"
    assert failed["attempts"] == 1
    assert reaped == {"execution_lost": 1, "report_not_received": 0}  # every API process's


def test_a_worker_stopped_with_sigterm_finishes_the_callback_in_flight(
    database: str, receiver: CallbackReceiver
) -> None:
    env = environment(database, "sql", "")
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    metrics_port = free_port()
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    with running(["serve", "--port", str(port)], f"{api}/health/live", env=env):
        worker = start(["worker", "--concurrency", "1", "--metrics-port", str(metrics_port)], env)
        wait_for_http(metrics, proc=worker)
        body = {"name": "quick", "callbackUrl": receiver.url("/ok")}
        requests.post(f"{api}/api/v1/tasks", json=body, timeout=30)
        wait_for_call(receiver, "/ok")
        body = {"name": "slow", "callbackUrl": receiver.url("/sleep/1.5")}
        task_id = requests.post(f"{api}/api/v1/tasks", json=body, timeout=30).json()["taskId"]
        wait_for_call(receiver, "/sleep/1.5")
        seen = {name: scraped(metrics, name) for name in WORKER_SERIES}
        code = stop(worker, signal.SIGTERM)
        task = requests.get(f"{api}/api/v1/tasks/{task_id}", timeout=30).json()
    assert code == 0, output_of(worker)
    assert task["status"] == "Completed"
    assert seen == {  # one callback answered, one in flight
        "taskcore_callbacks_total": {
            "success": 1,
            "deferred": 0,
            "http_error": 0,
            "no_response": 0,
        },
        "taskcore_callback_duration_seconds_count": {"": 1},
        "taskcore_executions_in_flight": {"": 1},
        "taskcore_worker_tasks_executed_total": {"": 1},
    }


def test_a_starting_worker_republishes_the_tasks_whose_messages_the_broker_lost(
    database: str, receiver: CallbackReceiver
) -> None:
    require("rabbitmq")
    env = environment(database, "rabbitmq", brokers.RABBITMQ_URL)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], f"{api}/health/live", env=env):
        ids = create_tasks(api, receiver, 20)
        brokers.delete_rabbitmq_queue(env["TASKCORE_QUEUE__NAME"])  # every message is gone
        created_a_minute_earlier(database)  # past the outbox settle time, without waiting it
        worker = start(["worker", "--concurrency", "4"], env)
        try:
            wait_for_completion(api, len(ids), timeout_s=30)
        finally:
            code = stop(worker, timeout_s=10)
            brokers.delete_rabbitmq_queue(env["TASKCORE_QUEUE__NAME"])
    assert code == 0, output_of(worker)
    assert Counter(call.json["taskId"] for call in receiver.calls_to("/ok")) == Counter(ids)


def created_a_minute_earlier(database: str) -> None:
    engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE tasks SET created_at = created_at - interval '1 minute'"))
    finally:
        engine.dispose()

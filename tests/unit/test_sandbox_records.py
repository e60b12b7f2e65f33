"""What a sandbox records about its processes: state.json with and without workload processes."""

from __future__ import annotations

import json
from pathlib import Path

from shared.sandbox.certs import write_credentials
from shared.sandbox.state import SandboxState, ServerRecord
from shared.sandbox.workloads import WorkloadTools, workload_records


def _record(name: str, port: int, pid: int | None = None) -> ServerRecord:
    return ServerRecord(name, (f"/bin/{name}", "--flag"), (port,), Path(f"/logs/{name}.log"), pid)


def test_workload_processes_are_named_per_cluster_with_their_own_ports(tmp_path: Path) -> None:
    tools = WorkloadTools(Path("/t/kcm"), Path("/t/sched"), Path("/t/kwok"))
    creds = write_credentials(tmp_path / "certs")
    records = workload_records(
        tools, creds, [101, 102, 201, 202], directory=tmp_path, logs=tmp_path / "logs"
    )
    assert [(r.name, r.ports) for r in records] == [
        ("cluster-1-controller-manager", (101,)),
        ("cluster-1-scheduler", (102,)),
        ("cluster-1-kwok", ()),
        ("cluster-2-controller-manager", (201,)),
        ("cluster-2-scheduler", (202,)),
        ("cluster-2-kwok", ()),
    ]
    manager, _, kwok = records[3:]
    assert f"--kubeconfig={tmp_path / 'cluster-2.kubeconfig'}" in manager.argv
    assert "--secure-port=201" in manager.argv
    assert f"--config={tmp_path / 'kwok.yaml'}" in kwok.argv
    # The token stays in the kubeconfig file, never on a command line.
    assert not any(creds.admin_token in arg for r in records for arg in r.argv)


def test_state_round_trips_workload_processes_and_stops_them_first(tmp_path: Path) -> None:
    state = SandboxState(
        etcd=_record("etcd", 1, pid=10),
        clusters=(_record("cluster-1", 2, pid=11),),
        components=(_record("cluster-1-kwok", 3, pid=12),),
    )
    state.save(tmp_path)
    loaded = SandboxState.load(tmp_path)
    assert loaded == state
    assert [r.name for r in loaded.records()] == ["cluster-1-kwok", "cluster-1", "etcd"]
    assert loaded.with_component(loaded.components[0].with_pid(None)).components[0].pid is None


def test_a_state_file_from_before_workloads_reads_as_api_only(tmp_path: Path) -> None:
    doc = {
        "format": 1,
        "etcd": _record("etcd", 1).to_json(),
        "clusters": [_record("cluster-1", 2).to_json()],
    }
    (tmp_path / "state.json").write_text(json.dumps(doc))
    assert SandboxState.load(tmp_path).components == ()

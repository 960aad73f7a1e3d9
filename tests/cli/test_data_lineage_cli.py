"""`garrison data register|list|show|pseudonymize|reidentify` and `garrison lineage show|export`."""

from __future__ import annotations

import json
import pickle
import stat

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from garrison.app import initialize
from garrison.audit import AuditQuery
from garrison.cli._common import CLIState
from garrison.cli.data import data_group
from garrison.cli.lineage import lineage_group
from garrison.cli.models import model_group
from garrison.config import load_settings
from tests.datasets.datagen import customers, orders, write
from tests.datasets.wiring import wire
from tests.registry.helpers import SERVABLE, servable_model_bytes

COMMIT = "feedc0ffee0123456789"


@click.group()
def root() -> None:
    """The commands under test, as cli/main.py will mount them."""


root.add_command(data_group)
root.add_command(lineage_group)
root.add_command(model_group)


@pytest.fixture
def cli_env(tmp_path, db_url, clock):
    settings = load_settings(home=tmp_path / "home", database_url=db_url)
    services, admin, _ = initialize(settings, "root", clock=clock)
    keys = {}
    for name, roles in [("alice", ["data-scientist"]), ("bob", ["approver"]),
                        ("dan", ["auditor"])]:
        services.accounts.create_principal(admin, name, roles=roles)
        keys[name] = services.accounts.create_key(admin, name).secret
    wired = wire(services)

    def run(*args: str, key: str = "alice", code: int = 0):
        state = CLIState(api_key=keys[key], _services=wired)
        result = CliRunner().invoke(root, list(args), obj=state, catch_exceptions=False)
        assert result.exit_code == code, (result.output, result.stderr)
        return result

    yield wired, run
    services.close()


def test_register_train_promote_and_show_lineage(cli_env, tmp_path) -> None:
    _, run = cli_env
    frame = customers()
    data = write(frame, tmp_path / "customers.csv")
    out = json.loads(run("data", "register", str(data), "--name", "customers", "--json").stdout)
    assert out["version"] == 1 and out["rows"] == 300 and "email" in out["pii_columns"]
    assert out["scan_report"]["rows"] == 300 and out["poison_report"] is None
    text = run("data", "register", str(data), "--name", "customers").stdout
    assert "customers:1" in text and out["digest"] in text  # Same bytes: same version.
    listed = json.loads(run("data", "list", "--json", key="dan").stdout)
    assert [(d["name"], d["version"]) for d in listed] == [("customers", 1)]
    shown = json.loads(run("data", "show", "customers:1", key="dan").stdout)
    assert shown["digest"] == out["digest"] and "scan_report" in shown
    labelled = write(frame.head(200), tmp_path / "train.parquet")
    text = run("data", "register", str(labelled), "--name", "customers", "--target",
               "label").stdout
    assert "customers:2" in text and "poisoning check on label:" in text
    run("data", "register", str(labelled), "--name", "x", "--target", "nope", code=2)
    run("data", "register", str(data), "--name", "customers", key="dan", code=1)

    model = tmp_path / "m.pkl"
    model.write_bytes(servable_model_bytes())
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"code_commit": COMMIT, "datasets": [out["model_reference"]],
                                **SERVABLE}))
    run("model", "register", "churn", str(model), "--metadata", str(meta))
    run("model", "approve", "churn:1", key="bob")
    run("model", "promote", "churn:1", key="bob")

    tree = run("lineage", "show", "churn:1", key="dan").stdout
    lines = tree.splitlines()
    assert lines[0].startswith("model churn:1")
    order = [next(i for i, line in enumerate(lines) if needle in line)
             for needle in ("produced by run train-churn-1-", "used dataset customers@1",
                            "deployment production")]
    assert order == sorted(order)  # dataset -> run -> model -> deployment, drawn as a tree.
    assert out["digest"][:12] in tree and f"commit {COMMIT[:12]}" in tree
    graph = json.loads(run("lineage", "show", "churn", "--json", key="dan").stdout)
    assert {n["kind"] for n in graph["nodes"]} == {"dataset", "run", "model-version",
                                                   "deployment"}

    lines_out = run("lineage", "export", "churn:1", "--openlineage", "--namespace", "acme",
                    key="dan").stdout.splitlines()
    events = [json.loads(line) for line in lines_out]
    training = [e for e in events if e["job"]["name"] == "train.churn"]
    assert [e["eventType"] for e in training] == ["START", "COMPLETE"]
    assert training[0]["inputs"][0]["facets"]["version"]["datasetVersion"] == out["digest"]
    target = tmp_path / "events.jsonl"
    run("lineage", "export", "churn:1", "--openlineage", "--namespace", "acme", "--out",
        str(target), key="dan")
    assert target.read_text().splitlines() == lines_out
    custom = run("lineage", "export", "churn:1", "--openlineage", "--producer",
                 "https://ml.example.org/garrison", key="dan").stdout.splitlines()
    assert json.loads(custom[0])["producer"] == "https://ml.example.org/garrison"
    run("lineage", "export", "churn:1", key="dan", code=2)  # --openlineage is required.


def test_unknown_dataset_is_refused_by_model_register(cli_env, tmp_path) -> None:
    _, run = cli_env
    model = tmp_path / "m.pkl"
    model.write_bytes(pickle.dumps({"coef": [1.0]}))
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"datasets": [{"name": "x", "version": "1",
                                              "digest": "0" * 64}]}))
    result = run("model", "register", "churn", str(model), "--metadata", str(meta), code=2)
    assert "not registered" in result.stderr
    run("lineage", "show", "churn", key="dan", code=2)


def test_pseudonymize_join_and_reidentify(cli_env, tmp_path) -> None:
    services, run = cli_env
    frame = customers()
    people = write(frame, tmp_path / "people.csv")
    buys = write(orders(frame), tmp_path / "orders.csv")
    a = json.loads(run("data", "pseudonymize", str(people), "--columns", "email,name",
                       "--out", str(tmp_path / "p.csv"), "--json").stdout)
    run("data", "pseudonymize", str(buys), "--columns", "email", "--out",
        str(tmp_path / "o.csv"))
    assert a["mode"] == "hmac-sha256" and a["key_created"] and a["rows"] == 300
    joined = pd.read_csv(tmp_path / "o.csv").merge(pd.read_csv(tmp_path / "p.csv"), on="email")
    assert len(joined) == 600
    keys = services.settings.keys_dir
    assert stat.S_IMODE((keys / "pseudonym-hmac.key").stat().st_mode) == 0o600

    sealed = tmp_path / "sealed.parquet"
    text = run("data", "pseudonymize", str(people), "--columns", "email", "--out", str(sealed),
               "--reversible").stdout
    assert "aes-siv" in text
    back = tmp_path / "back.csv"
    run("data", "reidentify", str(sealed), "--columns", "email", "--out", str(back), code=1)
    assert not back.exists()  # alice (data scientist) may not re-identify.
    run("data", "reidentify", str(sealed), "--columns", "email", "--out", str(back), key="dan")
    assert pd.read_csv(back)["email"].tolist() == frame["email"].tolist()
    denied = services.store.query(AuditQuery(action="reidentify-data", outcome="denied"))
    assert [e.actor for e in denied] == ["alice"]
    for record in services.store.query(AuditQuery(limit=None)):
        assert (keys / "pseudonym-siv.key").read_bytes().hex() not in record.payload


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # The check is storage-free.
def test_register_warns_when_the_poisoning_check_cannot_judge_labels(cli_env, tmp_path) -> None:
    _, run = cli_env
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    frame["label"] = rng.integers(0, 2, 300)  # Labels unrelated to the features.
    path = write(frame, tmp_path / "noise.csv")
    result = run("data", "register", str(path), "--name", "noise", "--target", "label")
    assert "poisoning check on label: 0 suspicious rows" in result.stdout
    assert "warning" in result.stderr and "labels not judged" in result.stderr
    shown = json.loads(run("data", "show", "noise:1", key="dan").stdout)
    assert shown["poison_report"]["labels_judged"] is False

"""The README's "Using it" section, walked literally: one process per command as written.

The inputs a user brings are generated first (a scikit-learn model fitted on named
columns, its training table *with the label*, a retrained model, a customer table, last
week's data, the HE parameters a server hands to clients). ``~`` is a temporary home,
``gk_...`` is the key the named principal's earlier command printed, a trailing ``&``
starts the gateway in the background (on a free port, through ``GARRISON_PORT``).
The outcome must be a working gateway that follows promotion and rollback live, and
every command must exit as documented: never a crash.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.gateway.serving import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FEATURES = ["age", "income", "debt"]

#: Exit codes each command may give (documented findings), by its first words.
ALLOWED = {
    ("data", "poison-check"): {0, 1},  # 1: suspicious rows
    ("drift", "compare"): {0, 1},  # 1: drift found
}

pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Using it", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line for line in block.strip().splitlines() if line.strip()]


def _inputs(workdir: Path) -> None:
    rng = np.random.default_rng(2)
    train = pd.DataFrame({"age": rng.integers(18, 80, 400), "income": rng.normal(50, 10, 400),
                          "debt": rng.normal(10, 3, 400)})
    train["label"] = (train["income"] - 3 * train["debt"] + rng.normal(0, 4, 400) > 20
                      ).astype(int)
    train.to_csv(workdir / "train.csv", index=False)
    for name, c in (("model.joblib", 1.0), ("model_v2.joblib", 0.1)):
        joblib.dump(LogisticRegression(C=c, max_iter=1000).fit(train[FEATURES], train["label"]),
                    workdir / name)
    week = train[FEATURES].sample(200, random_state=1).assign(income=lambda f: f.income + 15)
    week.to_parquet(workdir / "last_week.parquet", index=False)
    people = pd.DataFrame({
        "name": [f"Person {i}" for i in range(120)],
        "email": [f"person{i}@example.org" for i in range(120)],
        "zip": [f"{10000 + (i % 9) * 7}" for i in range(120)],
        "age": rng.integers(18, 90, 120), "balance": rng.normal(1000, 300, 120).round(2)})
    people.to_csv(workdir / "customers.csv", index=False)
    from garrison.he import HEParams, compile_model

    params = HEParams.for_model(compile_model(LogisticRegression().fit(
        train[FEATURES], train["label"])))
    (workdir / "params.json").write_text(json.dumps(params.to_dict()))


def _garrison() -> list[str]:
    script = Path(sys.executable).with_name("garrison")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "garrison"]


class Walk:
    """Runs README lines in order, keeping the environment and the printed keys."""

    def __init__(self, workdir: Path, home: Path, port: int) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GARRISON_")}
        self.env.update(HOME=str(home), GARRISON_PORT=str(port), GARRISON_LOG_FORMAT="json")
        self.port = port
        self.keys: dict[str, str] = {}
        self.server: subprocess.Popen[bytes] | None = None
        self.log = workdir / "serve.log"
        self.outputs: list[tuple[str, int, str, str]] = []

    def line(self, raw: str) -> None:
        comment = raw.split(" #", 1)[1] if " #" in raw else ""
        words = shlex.split(raw, comments=True)
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            if value == "gk_...":
                owner = re.search(r"([\w-]+)'s key", comment)
                assert owner, f"whose key? {raw}"
                value = self.keys[owner.group(1)]
            self.env[name] = os.path.expanduser(value.replace("~", self.env["HOME"]))
            return
        background = words[-1] == "&"
        words = words[:-1] if background else words
        commands, current = [], []
        for word in words:
            if word == "&&":
                commands.append(current)
                current = []
            else:
                current.append(word)
        commands.append(current)
        for argv in commands:
            assert argv[0] == "garrison", raw
            if background:
                self.start(argv)
            else:
                self.run(argv)

    def run(self, argv: list[str]) -> None:
        done = subprocess.run([*_garrison(), *argv[1:]], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=600, check=False)
        command = " ".join(argv)
        self.outputs.append((command, done.returncode, done.stdout, done.stderr))
        assert "Traceback" not in done.stdout + done.stderr, (command, done.stderr)
        allowed = ALLOWED.get(tuple(argv[1:3]), {0})  # type: ignore[arg-type]
        assert done.returncode in allowed, (command, done.returncode, done.stderr[-2000:])
        printed = re.findall(r"^(gk_\S+)$", done.stdout, re.M)
        if argv[1] == "init":
            self.keys[argv[argv.index("--admin") + 1]] = printed[0]
        elif argv[1:3] == ["user", "add"] and "--with-key" in argv:
            self.keys[argv[3]] = printed[0]

    def start(self, argv: list[str]) -> None:
        with self.log.open("wb") as out:
            self.server = subprocess.Popen([*_garrison(), *argv[1:]], cwd=self.workdir,
                                           env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        deadline = time.time() + 240
        while time.time() < deadline:
            assert self.server.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.url("/v2/health/ready"), timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the gateway never became ready:\n{self.log.read_text()[-3000:]}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def predict(self) -> httpx.Response:
        return httpx.post(self.url("/v1/models/credit/predict"), timeout=10,
                          headers={"Authorization": f"Bearer {self.keys['scoring-app']}"},
                          json={"instances": [{"age": 41, "income": 52.5, "debt": 9.1}]})

    def serving(self, version: str, timeout: float = 60) -> dict[str, object]:
        """Predictions until the gateway answers with ``version`` (it reloads live)."""
        deadline = time.time() + timeout
        while True:
            answer = self.predict()
            assert answer.status_code == 200, answer.text
            body = answer.json()
            if str(body["model_version"]) == version or time.time() > deadline:
                assert str(body["model_version"]) == version, body
                return body  # type: ignore[no-any-return]
            time.sleep(0.5)


def test_the_readme_runs_as_written_and_serves(tmp_path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    _inputs(workdir)
    walk = Walk(workdir, tmp_path / "user-home", free_port())
    try:
        for raw in readme_commands():
            walk.line(raw)
            if raw.startswith("garrison serve"):
                body = walk.serving("1")
                top = body["predictions"][0]["top"]  # type: ignore[index]
                assert len(top) == 1 and body["predictions"][0]["label"] in (0, 1)  # type: ignore[index]
            if "promote credit:2" in raw:
                walk.serving("2")
            if raw.startswith("garrison model rollback"):
                walk.serving("1")
    finally:
        if walk.server is not None:
            stop(walk.server)
    commands = [c for c, *_ in walk.outputs]
    assert "garrison model rollback credit" in commands and walk.server is not None
    registered = next(out for c, _, out, _ in walk.outputs
                      if c.startswith("garrison model register credit model.joblib"))
    assert registered.startswith("registered credit:1")
    log = walk.log.read_text()
    assert "Traceback" not in log and "Child process died" not in log
    audit = next(out for c, _, out, _ in walk.outputs if c.startswith("garrison audit log"))
    assert "check-mode" in audit  # The smoke tests are in the trail (names are shortened).
    assert (workdir / "keys" / "secret.json").is_file()


def test_the_old_readme_line_is_a_clear_refusal(tmp_path) -> None:
    """The training table still holds the label: registration refuses, naming it."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    _inputs(workdir)
    walk = Walk(workdir, tmp_path / "user-home", free_port())
    for raw in ("export GARRISON_HOME=~/.garrison", "garrison init --admin root",
                "export GARRISON_API_KEY=gk_...   # root's key"):
        walk.line(raw)
    done = subprocess.run(
        [*_garrison(), "model", "register", "credit", "model.joblib", "--reference",
         "train.csv"], cwd=workdir, env=walk.env, capture_output=True, text=True,
        timeout=600, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error (model-not-servable): ")
    assert "does not take: label" in done.stderr and "--target label" in done.stderr
    listed = subprocess.run([*_garrison(), "model", "list", "--json"], cwd=workdir,
                            env=walk.env, capture_output=True, text=True, timeout=120,
                            check=True)
    assert json.loads(listed.stdout) == []

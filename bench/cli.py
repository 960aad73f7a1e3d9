"""Start-up time of the command line, next to a bare interpreter measured in the same run.

    python bench/cli.py [--repeat 7] [--strict]

Times, as separate processes: ``python -c pass`` (the baseline), ``garrison --help``,
``garrison version`` and ``garrison drift compare`` on two small CSV files (200 rows,
4 columns, generated). Each figure is the best of ``--repeat`` runs (noise on a shared
machine only ever slows a run down), wall-clock and the CPU time of the child, with the
ratio to the baseline. Goal (``--strict`` exits 1 when missed): ``--help`` and
``version`` under 0.3 s of wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 0.3


def _garrison() -> list[str]:
    """The installed ``garrison`` script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("garrison")
    if script.is_file():
        return [str(script)]
    found = shutil.which("garrison")
    return [found] if found else [sys.executable, "-m", "garrison"]


def _once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # drift compare exits 1 when it finds drift.
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): "
                         f"{done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _best(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    runs = [_once(argv, env) for _ in range(repeat)]
    return min(w for w, _ in runs), min(c for _, c in runs)


def _tables(directory: Path) -> tuple[Path, Path]:
    rng = random.Random(0)
    paths = []
    for name, shift in (("reference.csv", 0.0), ("current.csv", 0.3)):
        lines = ["age,income,debt,region"]
        for _ in range(200):
            lines.append(f"{rng.randint(18, 80)},{rng.gauss(50 + shift, 10):.3f},"
                         f"{rng.gauss(10, 3):.3f},{rng.choice('NESW')}")
        path = directory / name
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths[0], paths[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a goal is missed.")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GARRISON_")}
    garrison = _garrison()
    with tempfile.TemporaryDirectory(prefix="garrison-bench-cli-") as tmp:
        env["GARRISON_HOME"] = str(Path(tmp) / "home")  # Never read: no command needs it.
        reference, current = _tables(Path(tmp))
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("garrison --help", [*garrison, "--help"], GOAL_SECONDS),
            ("garrison version", [*garrison, "version"], GOAL_SECONDS),
            ("garrison drift compare", [*garrison, "drift", "compare", str(reference),
                                        str(current)], None),
        ]
        results = [(name, *_best(argv, env, args.repeat), goal) for name, argv, goal in cases]
    load = os.getloadavg()[0]
    print(f"CLI start-up, best of {args.repeat} runs ({' '.join(garrison)}; "
          f"load average {load:.2f})")
    print(f"{'command':<24} {'wall s':>8} {'cpu s':>8} {'x python -c pass':>17}  goal")
    base_wall = results[0][1]
    missed = []
    for name, wall, cpu, goal in results:
        verdict = "" if goal is None else (f"< {goal:g} s " + ("met" if wall < goal
                                                              else "MISSED"))
        if goal is not None and wall >= goal:
            missed.append(name)
        print(f"{name:<24} {wall:>8.3f} {cpu:>8.3f} {wall / base_wall:>17.1f}  {verdict}")
    if missed and args.strict:
        sys.exit(1)


if __name__ == "__main__":
    main()

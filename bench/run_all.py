"""Run every benchmark in turn: python bench/run_all.py"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_quality.py", "bench_preview.py", "bench_scheduling.py", "bench_rebuild.py",
           "bench_dag_scale.py"]

if __name__ == "__main__":
    failed = 0
    for name in BENCHES:
        print(f"\n== {name}", flush=True)
        failed |= subprocess.run([sys.executable, str(HERE / name)], cwd=HERE).returncode
    sys.exit(failed)

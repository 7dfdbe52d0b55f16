"""The resumable queue of sweep runs: skips what is recorded, goes on after a failure, waits while paused."""
import json
import subprocess

from dsah.cli import run_queue


def _record(path, method, bits, overrides, params="profiles/dogs_cpu.yaml"):
    with open(path, "a") as f:
        f.write(json.dumps({"method": method, "bits": bits, "split": "test", "overrides": overrides,
                            "params": f"/somewhere/{params}"}) + "\n")


def _fake_sweeps(monkeypatch, calls, fail=()):
    def run(cmd, **kw):
        line = " ".join(cmd[3:])
        calls.append(line)
        job = run_queue.parse(line)
        if job.method not in fail:
            _record(job.json, job.method, job.bits, job.overrides, job.params)
        return subprocess.CompletedProcess(cmd, 1 if job.method in fail else 0)
    monkeypatch.setattr(run_queue.subprocess, "run", run)


def test_recorded_runs_are_skipped_and_a_failure_does_not_stop_the_queue(tmp_path, monkeypatch):
    rec = tmp_path / "r.jsonl"
    _record(rec, "hash_only", 12, ["train.seed=0"])
    jobs = tmp_path / "jobs.txt"
    jobs.write_text(f"# a comment\nhash_only 12 train.seed=0 --params profiles/dogs_cpu.yaml --json {rec}\n"
                    f"dsah 12 train.seed=0 --params profiles/dogs_cpu.yaml --json {rec}\n"
                    f"dtq 12 train.seed=1 --params profiles/dogs_cpu.yaml --json {rec}  # trailing comment\n"
                    f"hash_only 12 train.seed=0 --params profiles/real_cpu.yaml --json {rec}\n")
    calls = []
    _fake_sweeps(monkeypatch, calls, fail={"dtq"})
    assert run_queue.main([str(jobs)]) == 1  # one failed
    assert [c.split()[0] for c in calls] == ["dsah", "dtq", "hash_only"]  # another parameter file: another run
    assert run_queue.pending(jobs) == [f"dtq 12 train.seed=1 --params profiles/dogs_cpu.yaml --json {rec}"]


def test_the_queue_waits_while_paused(tmp_path, monkeypatch, capsys):
    rec = tmp_path / "r.jsonl"
    jobs = tmp_path / "jobs.txt"
    jobs.write_text(f"hash_only 12 train.seed=0 --json {rec}\n")
    pause = tmp_path / "jobs.txt.pause"
    pause.touch()
    calls, sleeps = [], []
    _fake_sweeps(monkeypatch, calls)

    def sleep(s):
        assert not calls  # nothing runs while paused
        sleeps.append(s)
        pause.unlink()
    monkeypatch.setattr(run_queue.time, "sleep", sleep)
    assert run_queue.main([str(jobs)]) == 0
    assert sleeps == [run_queue.PAUSE_POLL] and len(calls) == 1
    out = capsys.readouterr().out
    assert "paused while" in out and "resumed" in out and "queue empty (0 failed)" in out

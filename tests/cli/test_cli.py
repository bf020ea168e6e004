"""The data-extract command as a user runs it: output, --json, exit codes, profiles."""

from __future__ import annotations

import json
import os
import stat

import boto3

from tests.cli.conftest import make_docs


def test_submit_a_folder_and_wait_shows_the_summary_and_exits_by_status(run, tmp_path):
    # GIVEN a folder with two documents, an unsupported file and a corrupt one
    docs = make_docs(tmp_path)

    # WHEN it is submitted with --wait
    result = run("submit", str(docs), "--wait", "--poll-interval", "0.05", "--chunk-size", "64")

    # THEN the job ended partial (exit 1) and the table names every file with its outcome
    assert result.code == 1, result.err
    for name in ("docs/alpha.txt", "docs/notes/beta.md", "docs/delta.xyz", "docs/bad.json"):
        assert name in result.out
    assert "unsupported_format" in result.out and "corrupt" in result.out
    assert "partial: processed 2  failed 1  skipped 1  pending 0 of 4 file(s)" in result.out
    assert "data-extract artifacts" in result.out
    # Off a terminal the progress comes as lines on stderr
    assert "pending 0 of 4" in result.err and "partial" in result.err


def test_exit_codes_completed_and_failed(run, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Plain words. Two sentences.")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{")
    assert run("submit", str(good), "--wait", "--poll-interval", "0.05").code == 0
    failed = run("submit", str(bad), "--wait", "--poll-interval", "0.05")
    assert failed.code == 2 and "failed" in failed.out


def test_submit_json_without_and_with_wait(run, tmp_path):
    docs = make_docs(tmp_path, failing=False)
    queued = run(
        "submit", str(docs), "--json", "--format", "txt", "--preset", "quick-scan", "-o", "include_metadata=true"
    )
    assert queued.code == 0
    body = queued.json
    assert set(body) == {"job_id", "status"} and body["status"] == "queued"

    done = run("jobs", "wait", body["job_id"], "--json", "--poll-interval", "0.05")
    assert done.code == 0 and done.err == ""
    detail = done.json
    assert detail["status"] == "completed" and detail["progress"]["skipped"] == 1
    assert detail["request_payload"]["output_format"] == "txt"
    assert detail["request_payload"]["preset"] == "quick-scan"
    assert detail["request_payload"]["include_metadata"] is True
    assert "outputs/docs/alpha.txt.txt" in {
        f["output_path"].split(f"jobs/{body['job_id']}/", 1)[-1] for f in detail["files"] if f["output_path"]
    }


def test_the_live_progress_bar_on_a_terminal(run, tmp_path, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # Rich renders as on a terminal
    result = run("submit", str(make_docs(tmp_path)), "--wait", "--poll-interval", "0.05")
    assert result.code == 1
    assert "━" in result.err  # the bar
    assert "processed 2" in result.err and "failed 1" in result.err and "skipped 1" in result.err
    assert "4/4" in result.err


def test_large_submissions_go_through_presigned_uploads(run, tmp_path, monkeypatch):
    from data_extract.client import _core

    monkeypatch.setattr(_core, "MULTIPART_LIMIT_BYTES", 64)
    result = run("submit", str(make_docs(tmp_path, failing=False)), "--wait", "--json", "--poll-interval", "0.05")
    assert result.code == 0, result.err
    assert result.json["input_path"].startswith("upload:")
    forced = run("submit", str(tmp_path / "docs" / "alpha.txt"), "--upload", "presigned", "--json")
    assert forced.code == 0


def test_submit_an_s3_location(run, aws):
    bucket = aws["DATA_EXTRACT_BUCKET_NAME"]
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=bucket, Key="incoming/x/a.txt", Body=b"Plain words here."
    )
    result = run("submit", f"s3://{bucket}/incoming/x/", "--wait", "--json", "--poll-interval", "0.05")
    assert result.code == 0 and result.json["input_path"] == f"s3://{bucket}/incoming/x/"
    outside = run("submit", f"s3://{bucket}/elsewhere/")
    assert outside.code == 2 and "400 from the server" in outside.err


def test_usage_and_config_errors_exit_3(run, tmp_path):
    missing = run("submit", str(tmp_path / "nope"))
    assert missing.code == 3 and "no such file or folder" in missing.err
    assert run("submit").code == 3
    assert run("submit", str(make_docs(tmp_path)), "-o", "novalue").code == 3
    assert run("jobs", "frobnicate").code == 3
    unknown_profile = run("jobs", "list", "--profile", "nosuch")
    assert unknown_profile.code == 3 and "profile 'nosuch'" in unknown_profile.err
    bad_url = run("health", "--url", "ftp://example.com")
    assert bad_url.code == 3 and "http://" in bad_url.err
    as_json = run("health", "--url", "ftp://example.com", "--json")
    assert as_json.code == 3
    assert '"exit_code": 3' in as_json.err


def test_server_validation_errors_show_the_detail_and_exit_2(run, tmp_path):
    result = run("submit", str(make_docs(tmp_path)), "-o", "chunk_size=5")
    assert result.code == 2
    assert "422 from the server" in result.err and "chunk_size" in result.err
    as_json = run("submit", str(tmp_path / "docs"), "-o", "chunk_size=5", "--json")
    assert as_json.code == 2
    assert '"status_code": 422' in as_json.err and '"detail": [' in as_json.err
    missing = run("jobs", "show", "nosuchjob")
    assert missing.code == 2 and "404" in missing.err


def test_an_unreachable_server_exits_4(config_files, capsys):
    from data_extract.cli import main

    code = main(["health", "--url", "http://127.0.0.1:9"])
    assert code == 4
    assert "cannot reach http://127.0.0.1:9/api/v1" in capsys.readouterr().err


def test_jobs_list_show_retry_cleanup(run, tmp_path, aws):
    job_id = run("submit", str(make_docs(tmp_path)), "--json").json["job_id"]
    assert run("jobs", "wait", job_id, "--poll-interval", "0.05").code == 1

    listed = run("jobs", "list")
    assert job_id in listed.out and "partial" in listed.out
    assert [j["job_id"] for j in run("jobs", "list", "--json").json] == [job_id]
    shown = run("jobs", "show", job_id)
    assert shown.code == 0 and "docs/bad.json" in shown.out and "finished" in shown.out
    assert run("jobs", "show", job_id, "--json").json["progress"]["failed"] == 1

    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"],
        Key=f"jobs/{job_id}/inputs/docs/bad.json",
        Body=b'{"fixed": [1, 2, 3]}',
    )
    retried = run("jobs", "retry", job_id, "--wait", "--poll-interval", "0.05")
    assert retried.code == 0 and "completed" in retried.out
    again = run("jobs", "retry", job_id)
    assert again.code == 2 and "409 from the server" in again.err

    refused = run("jobs", "cleanup", job_id)  # stdin is not a terminal: no prompt, no deletion
    assert refused.code == 3 and "--yes" in refused.err
    cleaned = run("jobs", "cleanup", job_id, "--yes", "--json")
    assert cleaned.code == 0 and cleaned.json["removed"] is True
    assert run("artifacts", job_id, "--json").json["artifacts"] == []


def test_artifacts_list_and_download_with_resume(run, tmp_path, aws, monkeypatch):
    from data_extract.settings import get_settings

    job_id = run("submit", str(make_docs(tmp_path, failing=False)), "--json").json["job_id"]
    assert run("jobs", "wait", job_id, "--poll-interval", "0.05").code == 0
    payload = os.urandom(300_000)
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/big.bin", Body=payload
    )
    monkeypatch.setenv("DATA_EXTRACT_API_INLINE_DOWNLOAD_MAX_BYTES", "100000")  # big.bin redirects to S3
    get_settings.cache_clear()

    listed = run("artifacts", job_id)
    assert "outputs/docs/alpha.txt.json" in listed.out and "result.json" in listed.out
    only_json = run("artifacts", job_id, "--path", "outputs/*", "--json").json["artifacts"]
    assert {a["path"] for a in only_json} == {"outputs/docs/alpha.txt.json", "outputs/docs/notes/beta.md.json"}

    # An interrupted earlier download left part of big.bin behind.
    out = tmp_path / "out"
    (out / "inputs").mkdir(parents=True)
    (out / "inputs" / "big.bin.part").write_bytes(payload[:123_456])
    downloaded = run("artifacts", job_id, "--download", str(out), "--json")
    assert downloaded.code == 0, downloaded.err
    rows = {r["path"]: r for r in downloaded.json}
    assert rows["inputs/big.bin"]["resumed"] is True
    assert (out / "inputs" / "big.bin").read_bytes() == payload
    assert b"Alpha report" in (out / "outputs" / "docs" / "alpha.txt.json").read_bytes()
    assert (out / "result.json").is_file()

    again = run("artifacts", job_id, "--download", str(out))
    assert again.code == 0 and "already there" in again.out
    get_settings.cache_clear()


def test_submit_download_through_api_gateway_events(run, tmp_path):
    out = tmp_path / "out"
    result = run(
        "submit",
        str(make_docs(tmp_path, failing=False)),
        "--download",
        str(out),
        "--json",
        "--poll-interval",
        "0.05",
        kind="1.0",
    )
    assert result.code == 0, result.err
    assert result.json["job"]["status"] == "completed"
    assert {r["path"] for r in result.json["downloads"]} >= {"outputs/docs/alpha.txt.json", "result.json"}
    assert "Grüße aus Köln" in (out / "outputs" / "docs" / "notes" / "beta.md.json").read_text()


def test_sessions_presets_and_health(run, tmp_path):
    job_id = run("submit", str(make_docs(tmp_path)), "--json").json["job_id"]
    run("jobs", "wait", job_id, "--poll-interval", "0.05")

    sessions = run("sessions", "list", "--json").json
    assert [s["job_id"] for s in sessions] == [job_id]
    assert job_id in run("sessions", "list").out
    shown = run("sessions", "show", sessions[0]["session_id"])
    assert shown.code == 0 and "docs/bad.json" in shown.out
    assert run("sessions", "show", sessions[0]["session_id"], "--json").json["failed_count"] == 1

    listed = run("presets", "list")
    assert "audit-standard" in listed.out and "default for new jobs: none" in listed.out
    preview = run("presets", "preview", "rag-optimized", "--json").json
    assert preview["preset"] == "rag-optimized" and preview["effective_config"]
    assert "chunk.max_tokens" in run("presets", "preview").out
    assert run("presets", "apply", "quick-scan").code == 0
    assert run("presets", "list", "--json").json["current"] == "quick-scan"
    assert run("presets", "preview", "no-such").code == 2

    health = run("health")
    assert health.code == 0 and "ok" in health.out
    detailed = run("health", "--detailed", "--json")
    assert detailed.json["table_reachable"] is True and detailed.code in (0, 1)


def test_login_stores_the_key_in_the_profile_and_logout_forgets_it(run, keyed, config_files, monkeypatch):
    config, credentials = config_files
    refused = run("jobs", "list")
    assert refused.code == 3 and "401" in refused.err and "data-extract login" in refused.err

    wrong = run("login", "--api-key", "wrong")
    assert wrong.code == 3 and "refused this API key" in wrong.err
    assert not credentials.exists()

    ok = run("login", "--api-key", keyed, "--url", "https://example.test", "--profile", "staging")
    assert ok.code == 0, ok.err
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert "[staging]" in credentials.read_text() and keyed in credentials.read_text()
    assert "[profile staging]" in config.read_text() and "https://example.test" in config.read_text()

    listed = run("jobs", "list", "--profile", "staging", "--json")
    assert listed.code == 0 and listed.json == []
    assert run.seen_urls[-1] == "https://example.test"

    out = run("logout", "--profile", "staging")
    assert out.code == 0 and "removed" in out.out
    assert keyed not in credentials.read_text()
    assert run("jobs", "list", "--profile", "staging").code == 3
    monkeypatch.setenv("DATA_EXTRACT_API_KEY", keyed)
    assert run("jobs", "list").code == 0  # the environment's key


def test_flags_environment_and_profiles_precedence(config_files, monkeypatch):
    from data_extract.client.config import resolve, save_profile

    save_profile("default", url="http://default.test", api_key="default-key")
    save_profile("other", url="http://other.test", api_key="other-key")
    assert resolve().url == "http://default.test" and resolve().api_key == "default-key"
    monkeypatch.setenv("DATA_EXTRACT_URL", "http://env.test")
    monkeypatch.setenv("DATA_EXTRACT_API_KEY", "env-key")
    assert (resolve().url, resolve().api_key) == ("http://env.test", "env-key")  # environment over the profile
    named = resolve(profile="other")  # like the AWS CLI: an explicit --profile wins over the environment
    assert (named.url, named.api_key, named.url_source) == ("http://other.test", "other-key", "profile other")
    flagged = resolve(url="http://flag.test", api_key="flag-key", profile="other")
    assert (flagged.url, flagged.api_key) == ("http://flag.test", "flag-key")
    monkeypatch.setenv("DATA_EXTRACT_PROFILE", "other")
    assert resolve().url == "http://env.test"  # the profile named by the environment: environment first
    monkeypatch.delenv("DATA_EXTRACT_URL")
    assert resolve().url == "http://other.test"


def test_global_options_work_before_and_after_the_subcommand(run, tmp_path):
    before = run("--json", "--url", "http://first.test", "jobs", "list")
    after = run("jobs", "list", "--json", "--url", "http://second.test")
    assert before.json == [] and after.json == []
    assert run.seen_urls[-2:] == ["http://first.test", "http://second.test"]


def test_the_console_script_is_installed():
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("data-extract")
    assert script.exists() or shutil.which("data-extract"), "pip install -e '.[cli]' installs data-extract"
    out = subprocess.run(
        [str(script if script.exists() else shutil.which("data-extract")), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0 and "submit" in out.stdout and "local" in out.stdout


# ---- commands whose server side lands separately (the cancel endpoint, incremental/force/resume fields)


def test_jobs_cancel(run, tmp_path, aws, pump, capsys, config_files, quietly):
    from data_extract.cli import State, main
    from data_extract.client import DataExtractClient
    from tests.support.client import api_http

    _, http = api_http("asgi")  # no delivery while the job is cancelled
    state = State(client_factory=lambda s: DataExtractClient(s.url, s.api_key, http_client=http))
    capsys.readouterr()
    assert main(["submit", str(make_docs(tmp_path)), "--json"], state=state) == 0
    job_id = json.loads(capsys.readouterr().out)["job_id"]
    state = State(client_factory=lambda s: DataExtractClient(s.url, s.api_key, http_client=http))
    assert main(["jobs", "cancel", job_id], state=state) == 0
    assert job_id in capsys.readouterr().out
    http.close()
    quietly(pump.run)()

    done = run("submit", str(tmp_path / "docs" / "alpha.txt"), "--wait", "--json", "--poll-interval", "0.05")
    refused = run("jobs", "cancel", done.json["job_id"])
    assert refused.code == 2 and "409 from the server" in refused.err


def test_submit_incremental_force_resume(run, tmp_path):
    result = run(
        "submit",
        str(make_docs(tmp_path, failing=False)),
        "--incremental",
        "--force",
        "--resume",
        "--wait",
        "--json",
        "--poll-interval",
        "0.05",
    )
    assert result.code == 0, result.err
    payload = result.json["request_payload"]
    assert (payload["incremental"], payload["force"], payload["resume"]) == (True, True, True)


def test_no_lambda_handler_imports_the_client_or_the_command():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    code = (
        "import json, sys; sys.path.insert(0, 'functions'); "
        "import data_extract.handlers.api, data_extract.handlers.worker, data_extract.handlers.finalize, "
        "data_extract.handlers.dead_letter; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'rich') "
        "or m.startswith(('data_extract.client', 'data_extract.cli')))))"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_waiting_past_the_timeout_exits_2_and_says_how_to_go_on(aws, tmp_path, capsys, config_files):
    from data_extract.cli import State, main
    from data_extract.client import DataExtractClient
    from tests.support.client import api_http

    _, http = api_http("asgi")  # nothing delivers the queue: the job stays queued
    with http:
        state = State(client_factory=lambda s: DataExtractClient(s.url, s.api_key, http_client=http))
        code = main(
            ["submit", str(make_docs(tmp_path)), "--wait", "--timeout", "0.2", "--poll-interval", "0.05"], state=state
        )
    err = capsys.readouterr().err
    assert code == 2
    assert "still queued after 0.2 s" in err and "data-extract jobs wait" in err

"""HTTP API named stages put "/<stage>" in front of every path; the handler strips it."""

from __future__ import annotations

import httpx

from tests.support.jobs import job, submit_upload


def test_named_stage_paths_reach_the_same_routes(aws, pump):
    from data_extract.handlers import api as api_handler
    from tests.support.apigw import ApiGatewayTransport

    transport = ApiGatewayTransport(api_handler.lambda_handler, version="2.0", stage="prod")
    with httpx.Client(transport=transport, base_url="https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com") as c:
        assert c.get("/api/v1/health").json()["ready"] is True
        assert transport.last_event["rawPath"] == "/prod/api/v1/health"
        job_id = submit_upload(c)["job_id"]
        pump.run()
        assert job(c, job_id)["status"] == "completed"
        download = c.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/alpha.txt.json")
        assert download.status_code == 200 and b"Alpha report" in download.content

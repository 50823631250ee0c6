"""The studio page, driven through gradio_client like a script would."""

from __future__ import annotations

import pytest

from conftest import SAMPLE_PORTRAIT


@pytest.fixture
def studio(settings):
    from studio.app import build_app

    app = build_app(settings)
    app.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True,
                       allowed_paths=[str(settings.jobs_dir)])
    yield app
    app.close()


def test_render_endpoint_returns_a_video_and_records_the_job(studio, settings):
    from gradio_client import Client, handle_file

    from pipeline.jobs import JobStore

    client = Client(studio.local_url, verbose=False)
    video, details = client.predict(handle_file(str(SAMPLE_PORTRAIT)), "Nice to meet you.", None, "happy",
                                    0.5, 0.0, 0.7, 0.8, 0.4, api_name="/render")
    assert details["emotion"] == "happy" and details["controls"]["head_tilt"] == 0.0
    assert details["duration_s"] > 0.5
    job = JobStore(settings.db_path).get(details["job_id"])
    assert job.status == "done"
    path = video["video"] if isinstance(video, dict) else video
    assert path.endswith(".mp4")


def test_bad_input_is_a_readable_error(studio, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(studio.local_url, verbose=False)
    with pytest.raises(Exception, match="The script is empty"):
        client.predict(handle_file(str(SAMPLE_PORTRAIT)), "   ", None, "auto", 0.5, 0.3, 0.5, 0.6, 0.4,
                       api_name="/render")

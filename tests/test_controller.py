"""The LLM controller: every kind of bad answer falls back or clamps, and the job says which."""

from __future__ import annotations

import json

import pytest

import fake_llm
from pipeline.controls import CONTROL_NAMES, propose_rule_based
from pipeline.errors import RateLimited
from pipeline.llm.controller import CONTROLS_SCHEMA, propose_with_llm

GOOD = {"blink_rate": 0.2, "head_tilt": 0.7, "expression_intensity": 0.9, "mouth_openness": 0.8, "eyebrow_raise": 0.6}


def propose(answer):
    llm = fake_llm.FakeLLM().enqueue(answer)
    controls, record = propose_with_llm(llm, emotion="happy", confidence=0.8, energy=0.7, loudness_db=-18.0,
                                        transcript="We beat the forecast!")
    return controls, record, llm


def test_a_good_answer_is_used_as_given_and_the_prompt_carries_the_facts():
    controls, record, llm = propose(json.dumps(GOOD))
    assert record["path"] == "llm" and record["raw"] == json.dumps(GOOD)
    assert {name: getattr(controls, name) for name in CONTROL_NAMES} == GOOD
    assert controls.emotion == "happy"  # the emotion stage decides the emotion, not the LLM
    asked = llm.history[0]["messages"]
    assert '"emotion": "happy"' in asked[-1]["content"] and "We beat the forecast!" in asked[-1]["content"]
    assert "JSON schema" in asked[0]["content"]  # no native schema support: asked for in the prompt


def test_backends_with_schema_support_get_the_schema_instead_of_a_prompt():
    llm = fake_llm.FakeLLM(supports_schema=True).enqueue(json.dumps(GOOD))
    _, record = propose_with_llm(llm, emotion="neutral", confidence=0.5, energy=0.5)
    assert llm.history[0]["json_schema"] == CONTROLS_SCHEMA and record["constrained"] is True
    assert "JSON schema" not in llm.history[0]["messages"][0]["content"]


def test_a_fenced_answer_with_prose_around_it_is_still_read():
    _, record, _ = propose("Sure! Here you go:\n```json\n" + json.dumps(GOOD) + "\n```\nHope that helps.")
    assert record["path"] == "llm"


def test_out_of_range_values_are_clamped_and_the_raw_values_kept():
    controls, record, _ = propose(json.dumps({**GOOD, "mouth_openness": 1.7, "blink_rate": -3}))
    assert record["path"] == "llm-clamped"
    assert record["clamped"] == {"mouth_openness": 1.7, "blink_rate": -3}
    assert controls.mouth_openness == 1.0 and controls.blink_rate == 0.0 and controls.head_tilt == 0.7


def test_missing_and_non_numeric_fields_are_filled_in_by_the_rules():
    rules, _ = propose_rule_based("happy", 0.8, 0.7)
    controls, record, _ = propose(json.dumps({"blink_rate": 0.1, "head_tilt": "lots", "mouth_openness": "0.9"}))
    assert record["path"] == "llm-partial"
    assert sorted(record["filled_from_rules"]) == ["expression_intensity", "eyebrow_raise", "head_tilt"]
    assert controls.blink_rate == 0.1 and controls.mouth_openness == 0.9  # a number sent as a string is fine
    assert controls.head_tilt == rules.head_tilt and controls.eyebrow_raise == rules.eyebrow_raise


@pytest.mark.parametrize("answer, error", [
    ("I think the avatar should look happy and lively!", "not JSON"),
    ("", "empty answer"),
    ("[0.1, 0.2, 0.3]", "not an object"),
    ('{"mood": "happy", "speed": 3}', "none of the five controls"),
    ('{"blink_rate": 0.3, "head_tilt": ', "not JSON"),
    ('{"blink_rate": NaN, "head_tilt": null, "mouth_openness": true}', "none of the five controls"),
])
def test_garbage_falls_back_to_the_rules_with_the_reason(answer, error):
    rules, _ = propose_rule_based("happy", 0.8, 0.7)
    controls, record, _ = propose(answer)
    assert record["path"] == "rules-fallback" and error in record["error"]
    assert controls == rules and record["raw"] == answer


def test_a_failing_llm_falls_back_to_the_rules():
    controls, record, _ = propose(RateLimited("mistral is rate limiting us (HTTP 429)", retry_after=30))
    assert record["path"] == "rules-fallback" and "HTTP 429" in record["error"] and record["raw"] is None
    assert controls == propose_rule_based("happy", 0.8, 0.7)[0]


def test_a_render_with_the_llm_controller_records_the_path_and_raw_answer(runner, portrait):
    from pipeline.runner import RenderRequest

    fake = fake_llm.install()
    fake.enqueue(json.dumps({**GOOD, "eyebrow_raise": 4}))
    job = runner.render(RenderRequest(image=portrait, text="What a wonderful surprise!", controller="llm",
                                      llm="fake", controls={"head_tilt": 0.1}))
    assert job.status == "done" and job.controller == "llm"
    assert job.controller_detail["path"] == "llm-clamped" and job.controller_detail["clamped"] == {"eyebrow_raise": 4}
    assert job.controller_detail["raw"] == json.dumps({**GOOD, "eyebrow_raise": 4})
    assert job.controls_proposed["eyebrow_raise"] == 1.0
    assert job.controls_final["head_tilt"] == 0.1  # the user's value still wins over the LLM's 0.7
    saved = json.loads((runner.settings.job_dir(job.id) / "controls.json").read_text())
    assert saved["path"] == "llm-clamped" and saved["final"]["head_tilt"] == 0.1


def test_a_render_whose_llm_answer_is_garbage_still_finishes_and_says_so(runner, portrait):
    from pipeline.runner import RenderRequest

    fake_llm.install().enqueue("no idea, sorry")
    job = runner.render(RenderRequest(image=portrait, text="Fine.", controller="llm", llm="fake"))
    assert job.status == "done" and job.controller == "llm"
    assert job.controller_detail["path"] == "rules-fallback" and job.controller_detail["raw"] == "no idea, sorry"
    assert any("rule-based controller chose" in note for note in job.notes)


def test_unknown_controller_or_llm_names_fail_the_job_clearly(runner, portrait):
    from pipeline.errors import BadInput
    from pipeline.runner import RenderRequest

    with pytest.raises(BadInput, match="controller must be one of rules, llm"):
        runner.submit(RenderRequest(image=portrait, text="Hi", controller="magic"))
    with pytest.raises(BadInput, match="unknown LLM backend 'gpt5'; known: local, mistral, gemini, openai"):
        runner.submit(RenderRequest(image=portrait, text="Hi", controller="llm", llm="gpt5"))
    assert [job.status for job in runner.store.list()] == ["failed", "failed"]

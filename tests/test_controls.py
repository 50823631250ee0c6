import math

import pytest

from pipeline.controls import CONTROL_NAMES, Controls, parse_assignments, propose_rule_based
from pipeline.errors import BadInput


def test_values_are_clamped_to_unit_range():
    controls = Controls.from_dict({"mouth_openness": 3, "blink_rate": -1, "head_tilt": "0.25"})
    assert (controls.mouth_openness, controls.blink_rate, controls.head_tilt) == (1.0, 0.0, 0.25)


@pytest.mark.parametrize("values, message", [
    ({"mouth": 0.5}, "unknown control 'mouth'"),
    ({"head_tilt": "lots"}, "head_tilt must be a number"),
    ({"eyebrow_raise": math.nan}, "eyebrow_raise must be a number between 0 and 1, got NaN"),
    ({"emotion": "smug"}, "unknown emotion 'smug'"),
])
def test_bad_values_are_specific_bad_input(values, message):
    with pytest.raises(BadInput, match=message):
        Controls.from_dict(values)


def test_user_values_win_over_the_proposal():
    proposed, _ = propose_rule_based("sad", 0.9, 0.2)
    final = proposed.merge({"head_tilt": 0.0, "mouth_openness": 0.95})
    assert final.head_tilt == 0.0 and final.mouth_openness == 0.95
    assert final.blink_rate == proposed.blink_rate and final.emotion == "sad"


def test_rules_follow_emotion_and_energy():
    calm, _ = propose_rule_based("neutral", 0.5, 0.2)
    lively, reasons = propose_rule_based("neutral", 0.5, 0.9)
    assert lively.mouth_openness > calm.mouth_openness
    assert lively.expression_intensity > calm.expression_intensity
    assert any("energy" in reason for reason in reasons)
    happy, _ = propose_rule_based("happy", 0.9, 0.5)
    sad, _ = propose_rule_based("sad", 0.9, 0.5)
    neutral, _ = propose_rule_based("neutral", 0.9, 0.5)
    assert happy.eyebrow_raise > neutral.eyebrow_raise and happy.blink_rate > neutral.blink_rate
    assert sad.blink_rate < neutral.blink_rate and sad.head_tilt > neutral.head_tilt
    for controls in (happy, sad, calm, lively):
        assert all(0.0 <= getattr(controls, name) <= 1.0 for name in CONTROL_NAMES)


def test_cli_assignments():
    assert parse_assignments(["mouth_openness=0.8", "blink_rate = 0"]) == {"mouth_openness": 0.8, "blink_rate": 0.0}
    with pytest.raises(BadInput, match="NAME=VALUE"):
        parse_assignments(["mouth_openness"])
    with pytest.raises(BadInput, match="got 'smile=1'"):
        parse_assignments(["smile=1"])

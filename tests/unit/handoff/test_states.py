"""Hand-off states from CRM facts through configured rules."""

from __future__ import annotations

from smarketing_sync.handoff.states import evaluate, normalize_reason
from smarketing_sync.settings import HandoffSettings

CONFIG = HandoffSettings.model_validate(
    {
        "enabled": True,
        "crm": "pipedrive",
        "reasons": ["No budget", "Wrong person", "Not now"],
        "states": [
            {"state": "accepted", "when": {"lead.label": ["Accepted", "Working"]}},
            {
                "state": "rejected",
                "when": {"lead.label": ["No budget", "Wrong person", "Not now", "Spam"]},
                "reason": "lead.label",
            },
            {"state": "rejected", "when": {"deal.status": "lost"}, "reason": "deal.lost_reason"},
            {"state": "converted", "when": {"lead.converted": True}},
        ],
    }
)


def test_accepted_by_label() -> None:
    move = evaluate(CONFIG, CONFIG.states, "handed_over", {"lead.label": ["Hot", "Accepted"]}, "pd")
    assert move is not None
    assert move.state == "accepted"
    assert move.source == "pd lead.label=Accepted"


def test_rejected_reason_is_the_matching_label_on_the_closed_list() -> None:
    move = evaluate(CONFIG, CONFIG.states, "accepted", {"lead.label": ["Hot", "no budget"]}, "pd")
    assert move is not None
    assert (move.state, move.reason) == ("rejected", "No budget")
    spam = evaluate(CONFIG, CONFIG.states, "handed_over", {"lead.label": "Spam"}, "pd")
    assert spam is not None and spam.reason == "other: Spam"


def test_reason_from_another_fact() -> None:
    facts = {"deal.status": "lost", "deal.lost_reason": "Wrong person"}
    move = evaluate(CONFIG, CONFIG.states, "handed_over", facts, "pd")
    assert move is not None and move.reason == "Wrong person"


def test_states_only_move_forward() -> None:
    assert evaluate(CONFIG, CONFIG.states, "accepted", {"lead.label": "Accepted"}, "pd") is None
    assert evaluate(CONFIG, CONFIG.states, "converted", {"deal.status": "lost"}, "pd") is None
    move = evaluate(CONFIG, CONFIG.states, "accepted", {"lead.converted": True}, "pd")
    assert move is not None and move.state == "converted"


def test_bool_facts_and_no_match() -> None:
    assert evaluate(CONFIG, CONFIG.states, "handed_over", {"lead.converted": False}, "pd") is None
    assert evaluate(CONFIG, CONFIG.states, "handed_over", {}, "pd") is None


def test_normalize_reason() -> None:
    assert normalize_reason("  not NOW ", ["Not now"]) == "Not now"
    assert normalize_reason("", ["Not now"]) is None
    assert normalize_reason("anything", []) == "anything"


def test_reason_picks_the_labels_on_the_closed_list() -> None:
    config = HandoffSettings.model_validate(
        {
            "enabled": True,
            "crm": "pipedrive",
            "reasons": ["No budget"],
            "states": [
                {"state": "rejected", "when": {"lead.archived": True}, "reason": "lead.label"}
            ],
        }
    )
    facts = {"lead.archived": True, "lead.label": ["Hot", "No budget"]}
    move = evaluate(config, config.states, "handed_over", facts, "pd")
    assert move is not None and move.reason == "No budget"
    facts = {"lead.archived": True, "lead.label": ["Hot"]}
    move = evaluate(config, config.states, "handed_over", facts, "pd")
    assert move is not None and move.reason == "other: Hot"

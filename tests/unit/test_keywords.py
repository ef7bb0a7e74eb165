"""Table-driven tests for the inbound keyword classifier."""

import pytest

from app.audience.keywords import Keyword, classify, join_candidate, keyword_problem

OPT_OUTS = [
    # the keywords themselves, with noise around them
    "STOP",
    "stop",
    "Stop.",
    " STOP!! ",
    "stop 🛑",
    "🛑 STOP 🛑",
    "STOP STOP STOP",
    "ＳＴＯＰ",
    "StopAll",
    "stop all",
    "UNSUBSCRIBE",
    "Unsubscribe.",
    "cancel",
    "CANCEL!",
    "end",
    "End.",
    "quit",
    "QUIT",
    "revoke",
    "optout",
    "OPT OUT",
    "opt-out",
    "Opt-Out please",
    "stop please",
    "please stop",
    "Pls stop!",
    "ok stop",
    "stop now",
    "stop thanks",
    "Stop\n",
    # a keyword as a clause of its own
    "who is this? stop",
    "Who is this?? STOP",
    "I never signed up for this. STOP",
    "Stop, I never signed up",
    "This is the third one today - STOP",
    "unsubscribe me",
    # plain language
    "please stop texting me",
    "stop texting me",
    "Stop texting me!!!",
    "STOP SENDING ME THESE",
    "stop sending me messages",
    "Please stop the texts",
    "quit messaging me",
    "stop it",
    "stop this now",
    "take me off your list",
    "Take me off this list please",
    "get me off your list",
    "remove me",
    "Remove me from this list",
    "remove me from your list!",
    "please remove my number",
    "delete my number",
    "Unsubscribe me please",
    "how do I unsubscribe?",
    "I want to opt out",
    "opt me out",
    "wrong number",
    "Wrong number!",
    "you have the wrong number",
    "who is this? wrong person",
    "don't text me",
    "Don’t text me again",
    "do not contact me",
    "Do not text this number",
    "never message me again",
    "no more texts",
    "No more messages please",
    "leave me alone",
    "I don't want these texts",
    "I do not want any more messages",
    "lose my number",
]

NOT_OPT_OUTS = [
    ("don't stop the deals coming!", Keyword.REPLY),
    ("when does the sale end?", Keyword.REPLY),
    ("can I cancel my order?", Keyword.REPLY),
    ("I can't stop smiling", Keyword.REPLY),
    ("the end of the line", Keyword.REPLY),
    ("quit smoking tips?", Keyword.REPLY),
    ("is the store open till the end of the day", Keyword.REPLY),
    ("yes", Keyword.CONFIRM),
    ("start", Keyword.OPT_IN),
    ("Don't stop texting me, I love these", Keyword.REPLY),
    ("don't unsubscribe me!", Keyword.REPLY),
    ("Where is the nearest bus stop?", Keyword.REPLY),
    ("The end.", Keyword.REPLY),
    ("I want to cancel my appointment", Keyword.REPLY),
    ("How do I end my subscription box early and reorder?", Keyword.REPLY),
    ("stopped by the store today, great deals", Keyword.REPLY),
    ("nonstop savings!!", Keyword.REPLY),
    ("Can you take me to the store?", Keyword.REPLY),
    ("get me a discount code", Keyword.REPLY),
    ("remove the item from my cart", Keyword.REPLY),
    ("text me when it's back in stock", Keyword.REPLY),
    ("more texts like this please", Keyword.REPLY),
    ("what's the start date", Keyword.REPLY),
    ("I quit my job lol", Keyword.REPLY),
    ("who is this?", Keyword.REPLY),
    ("thanks!", Keyword.REPLY),
    ("", Keyword.REPLY),
    ("   ", Keyword.REPLY),
    ("🛑", Keyword.REPLY),
    ("Ends tonight?", Keyword.REPLY),
    ("endless summer sale?", Keyword.REPLY),
    ("I can't stop texting my friends about this sale", Keyword.REPLY),
]

OTHER_KINDS = [
    ("START", Keyword.OPT_IN),
    ("Start.", Keyword.OPT_IN),
    ("unstop", Keyword.OPT_IN),
    ("UNSTOP please", Keyword.OPT_IN),
    ("YES", Keyword.CONFIRM),
    ("Yes!", Keyword.CONFIRM),
    ("yes please", Keyword.CONFIRM),
    ("  yes  ", Keyword.CONFIRM),
    ("HELP", Keyword.HELP),
    ("help?", Keyword.HELP),
    ("Info", Keyword.HELP),
    ("yes I'd like that", Keyword.REPLY),
    ("I need help with my order", Keyword.REPLY),
    ("STOP HELP", Keyword.OPT_OUT),
    ("yes stop", Keyword.OPT_OUT),
    ("help help", Keyword.HELP),
    ("help yes", Keyword.REPLY),
    ("HELP. STOP", Keyword.OPT_OUT),
    ("yes. stop", Keyword.OPT_OUT),
    ("start? no, stop", Keyword.OPT_OUT),
]


@pytest.mark.parametrize("body", OPT_OUTS)
def test_opt_out(body):
    assert classify(body) is Keyword.OPT_OUT


@pytest.mark.parametrize(("body", "kind"), NOT_OPT_OUTS)
def test_not_opt_out(body, kind):
    assert classify(body) is kind


@pytest.mark.parametrize(("body", "kind"), OTHER_KINDS)
def test_other_kinds(body, kind):
    assert classify(body) is kind


def test_tables_are_big_enough():
    assert len(OPT_OUTS) >= 25
    assert len(NOT_OPT_OUTS) >= 25


def test_none_is_a_reply():
    assert classify(None) is Keyword.REPLY


# --- join keywords (issue 18): what a reply may be looked up as, and what a list may not use ---------

@pytest.mark.parametrize(("body", "word"), [
    ("JOIN", "join"), ("Join!", "join"), ("  vip please ", "vip"), ("deals2026", "deals2026"),
    ("join now thanks", "join"), ("I want to join", None), ("", None), ("x", None), ("join vip", None),
])
def test_join_candidate_is_one_word_of_a_keywords_shape(body, word):
    assert join_candidate(body) == word


@pytest.mark.parametrize("word", ["STOP", "stop", "Unsubscribe", "cancel", "END", "quit", "START", "unstop",
                                  "YES", "y", "HELP", "info", "optout", "please", "ok"])
def test_keyword_problem_refuses_every_word_the_classifier_reserves(word):
    assert keyword_problem(word) is not None


@pytest.mark.parametrize("word", ["JOIN", "vip", "Deals", "SHOES24"])
def test_keyword_problem_accepts_plain_words(word):
    assert keyword_problem(word) is None
    assert classify(word) is Keyword.REPLY


def test_y_confirms_like_yes_but_stop_still_wins():
    assert classify("Y") is Keyword.CONFIRM and classify("y!") is Keyword.CONFIRM
    assert classify("y stop") is Keyword.OPT_OUT

"""The first version of the block and allow lists, written for a music service's prompt box.

Block phrases name a taxonomy category; allow phrases are look-alikes that must pass (song,
film, band and game titles, programming and film-making talk). Phrases are matched on word
boundaries in normalised text (``labeling.text.normalise``), so ``cock`` does not match
"cocktail" and ``ass`` does not match "Assassin's Creed"; a trailing ``*`` matches any word
ending (``fuck*``). Reviewers and leads change the lists in the UI or with
``workbench safety rules``; every change is a new version.
"""

from __future__ import annotations

BLOCK: dict[str, tuple[str, ...]] = {
    "self_harm": (
        "kill myself", "killing myself", "end my life", "ending my life", "take my own life",
        "commit suicide", "my suicide", "suicide tonight", "want to die", "wanna die",
        "cut myself", "cutting myself", "hurt myself", "hurting myself", "starve myself",
        "kms", "end it all",
    ),
    "harassment": (
        "kill yourself", "kys", "go die", "go kill yourself", "worthless piece of shit",
        "you stupid whore", "stupid bitch",
    ),
    "violence": (
        "kill my neighbour", "kill my neighbor", "kill my stepdad", "shoot my ex",
        "shoot up the school", "shoot up my school", "bomb my school", "bomb the school",
        "make a bomb", "make a pipe bomb", "pipe bomb", "beat up my girlfriend",
        "beat up my wife", "stab him", "stab her",
    ),
    "hate": (
        "nigger*", "faggot*", "kike*", "spic", "spics", "chink*", "tranny", "trannies",
        "gas the jews", "white power", "heil hitler",
    ),
    "sexual": (
        "send nudes", "nude photos", "nude pics", "nudes of", "child porn", "sex scene",
        "explicit sex", "groom a",
    ),
    "illicit": (
        "fake streams", "buy streams", "stream farm", "bot my song", "sell cocaine",
        "sell drugs", "crack my friend's", "crack his account", "crack her account",
        "stolen accounts", "cracked premium",
    ),
    "privacy_pii": (
        "home address of", "her home address", "his home address", "personal phone number",
        "doxx*", "dox her", "dox him",
    ),
    "jailbreak_injection": (
        "ignore previous instructions", "ignore all previous instructions",
        "ignore your instructions", "system prompt", "developer mode", "jailbreak",
        "disable the safety filter", "disable safety", "you have no rules", "no restrictions",
    ),
}

ALLOW: tuple[str, ...] = (
    "kill a python process", "kill the process", "kill time", "kill it at the gym",
    "shoot a music video", "shoot our music video", "assassin's creed", "kill bill",
    "killing me softly", "killer queen", "the killers", "suicide squad", "suicideboys",
    "suicide is painless", "i shot the sheriff", "bang bang", "kill em with kindness",
    "dead or alive", "sex pistols", "sex on fire", "slayer", "cocktail", "scunthorpe",
    "niggas in paris", "end of the world", "drop dead gorgeous", "drowning pool",
)


def default_entries() -> list[dict[str, str]]:
    """The default lists as rule entries with stable ids (``b1``…, ``a1``…)."""
    entries = []
    for category, phrases in BLOCK.items():
        for phrase in phrases:
            entries.append({"id": f"b{len(entries) + 1}", "kind": "block", "phrase": phrase,
                            "category": category})
    for n, phrase in enumerate(ALLOW, start=1):
        entries.append({"id": f"a{n}", "kind": "allow", "phrase": phrase, "category": None})
    return entries

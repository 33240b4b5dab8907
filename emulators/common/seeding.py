"""Deterministic pseudo-random desk content: same seed and index, same record, on any machine.

Each record draws from its own ``random.Random`` keyed by (seed, kind, index), so a record can be built
lazily on first read without generating the records before it — that is what keeps a 100,000-ticket
desk cheap to start.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Katherine",
    "John",
    "Hedy",
    "Claude",
    "Sophie",
    "Niklaus",
    "Anita",
    "Guido",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "McCarthy",
    "Lamarr",
    "Shannon",
    "Wilson",
    "Wirth",
    "Borg",
    "van Rossum",
)
COMPANY_WORDS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Aperture",
    "Vandelay",
    "Wonka",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Dunder",
    "Pied Piper",
)
SUBJECT_PARTS = (
    ("Cannot", "Unable to", "Problem when trying to", "Question about how to", "Error while trying to"),
    (
        "log in",
        "reset my password",
        "export invoices",
        "upload a file",
        "change my plan",
        "sync contacts",
        "download the report",
        "connect the integration",
        "update billing details",
        "invite a teammate",
    ),
    ("", " on mobile", " since yesterday", " from the dashboard", " after the update", " (urgent)"),
)
SENTENCES = (
    "Thanks for getting back to me so quickly.",
    "I have attached a screenshot of the error.",
    "This started happening after the last release.",
    "Could you please look into this as soon as possible?",
    "We have restarted the browser and cleared the cache.",
    "The issue affects everyone on our team.",
    "I followed the steps in your help center article.",
    "Let me know if you need any more information.",
    "We rolled out a fix; can you confirm it works for you now?",
    "I am escalating this to our engineering team.",
)
FILE_NAMES = (
    ("screenshot.png", "image/png"),
    ("invoice.pdf", "application/pdf"),
    ("logs.txt", "text/plain"),
    ("export.csv", "text/csv"),
)


def rng_for(seed: int, kind: str, index: int) -> random.Random:
    return random.Random(f"{seed}:{kind}:{index}")


def person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def company(rng: random.Random, index: int) -> str:
    return f"{rng.choice(COMPANY_WORDS)} {index}"


def subject(rng: random.Random) -> str:
    a, b, c = (rng.choice(part) for part in SUBJECT_PARTS)
    return f"{a} {b}{c}"


def paragraph(rng: random.Random, sentences: int = 3) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(sentences))


def spread(seed: int, kind: str, count: int, start: float, end: float) -> list[int]:
    """``count`` non-decreasing integer instants in [start, end): record ``i`` is created at ``out[i]``.

    One RNG pass for the whole table (cheap even for 100k rows) so creation order equals id order,
    as on a real desk where ids are allocated in time order.
    """
    rng = random.Random(f"{seed}:{kind}:spread")
    step = (end - start) / max(count, 1)
    return [int(start + i * step + rng.random() * step * 0.9) for i in range(count)]


def pick(rng: random.Random, items: Sequence[int]) -> int:
    return items[rng.randrange(len(items))]

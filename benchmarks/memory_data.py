"""Long multi-session conversations with planted facts, later questions and known evidence turns.

Built at run time (no dataset text is stored in the repository): each persona's months of
sessions are seeker turns of real support conversations, ESConv train for the dev split and
ESConv valid + EmpatheticDialogues valid for the test split. Into them go planted statements,
written here, half of them inside a longer message (a fact diluted among other sentences).
Dev and test use disjoint templates and slot values, so tuning on dev cannot learn test wording.

Question kinds: fact ("What am I allergic to?"), time ("When did I go camping?": the answer
needs the memory's date), multi ("Who is replacing my boss?": needs two turns, both must be found).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DAY = 86_400.0

# (statement, question); several statements for "multi", all needed
PLANTS = {
    "dev": {
        "fact": [
            ("My landlord raised the rent to {amount} dollars a month.", "How much is my rent now?"),
            ("The vet said {pet} needs surgery on her hip next month.", "What did the vet say about {pet}?"),
            ("I finally named my old car, I call it {name2}.", "What did I name my car?"),
            ("My therapist suggested I try {hobby} to calm down.", "What did my therapist suggest to help me relax?"),
            ("I found out at the clinic that I'm allergic to {food}.", "What am I allergic to?"),
            (
                "My favourite teacher growing up was Mr {surname}, he taught me {subject}.",
                "Who was my favourite teacher?",
            ),
            ("I hid the spare key in the {place} so I never lose it again.", "Where did I put the spare key?"),
            (
                "My best friend from college, {name}, lives in {city} now.",
                "Where does my college friend live these days?",
            ),
            # paraphrased: the question shares almost no word with the statement
            ("My sister just got engaged to a guy she met at the gym.", "Who in my family is planning a wedding?"),
            ("I've been a vegetarian for six years now.", "Do I eat meat?"),
            ("The only thing that helps my migraines is lying in a dark room.", "What works for my headaches?"),
            ("I work night shifts at the hospital laundry.", "What hours do I usually work?"),
        ],
        "time": [
            ("I went camping at {lake} with my cousins.", "When did I go camping?"),
            ("I had my wisdom teeth removed this morning.", "When did I get my wisdom teeth out?"),
            ("We adopted a kitten from the shelter today.", "When did we adopt the kitten?"),
            ("I ran my first {distance} race this weekend.", "When was my first race?"),
            ("My car broke down on the highway on the way to {city}.", "When did my car break down?"),
            (
                "I finally told my parents that I'm quitting law school.",
                "When did I tell my parents about quitting school?",
            ),
            ("I got a tattoo of a {animal} on my arm.", "When did I get my tattoo?"),
            ("I had a job interview at {company} today.", "When was my interview at {company}?"),
            ("I finally got the keys to my first house today.", "When did I buy my home?"),
            ("My grandfather passed away this morning.", "When did my grandpa die?"),
        ],
        "multi": [
            (
                ("My cousin {name} just moved to {city}.", "{name} got a job at a {shop} there."),
                "What kind of job did my cousin find after moving?",
            ),
            (
                ("My neighbour {name} has a dog called {pet}.", "{pet} bit the mailman yesterday."),
                "What happened with my neighbour's dog?",
            ),
            (
                ("My boss {name} is going on maternity leave.", "{name}'s replacement is someone called {name2}."),
                "Who is replacing my boss?",
            ),
            (
                ("I started learning the {instrument} in the spring.", "My teacher {name} says I'm improving fast."),
                "What does my music teacher think of my progress?",
            ),
        ],
    },
    "test": {
        "fact": [
            ("My new neighbour is a retired {job} called {name}.", "Who is my new neighbour?"),
            (
                "The doctor put me on {medicine} for my blood pressure.",
                "Which medication am I taking for blood pressure?",
            ),
            ("My grandmother left me her old {object} when she passed.", "What did my grandmother leave me?"),
            ("I signed up for a {course} class that meets on {weekday}s.", "Which class did I sign up for?"),
            ("My daughter wants to become a {job} when she grows up.", "What does my daughter want to be?"),
            ("Our wifi password is the name of my first dog, {pet}.", "What was my first dog called?"),
            ("I keep my passport in the {place}.", "Where is my passport?"),
            ("My manager {name} is very strict about deadlines.", "What's my manager like?"),
            ("I can't have dairy, it makes me really sick.", "Is there any food I should avoid?"),
            ("Sunday mornings are when I call my mother.", "When do I usually talk to mom?"),
            ("I've been learning to knit so my hands stay busy when I'm anxious.", "What do I do to cope with nerves?"),
            ("My partner snores so loudly that I sleep on the couch.", "Why am I not sleeping in my bed?"),
        ],
        "time": [
            ("I moved into my new apartment on {street} Street.", "When did I move into the new apartment?"),
            ("I broke my wrist falling off my bike.", "When did I break my wrist?"),
            ("My son took his first steps today!", "When did my son start walking?"),
            ("I went to see {band} in concert last night.", "When did I see {band} live?"),
            ("I passed my driving test on the second try.", "When did I pass my driving test?"),
            ("We threw the big surprise party for mum's sixtieth.", "When was mum's sixtieth party?"),
            ("I flew to {city} for my cousin's wedding.", "When was my cousin's wedding?"),
            ("I quit smoking, day one starts now.", "When did I stop smoking?"),
            ("We got married at the courthouse this afternoon.", "When was our wedding?"),
            ("I was laid off from the warehouse today.", "When did I lose my job?"),
            ("My first chemo session was this morning.", "When did my cancer treatment start?"),
        ],
        "multi": [
            (
                ("My brother {name} is training for a marathon.", "{name} hurt his knee during a long run."),
                "How is my brother's marathon training going?",
            ),
            (
                ("My best friend {name} opened a bakery.", "{name}'s bakery got a great review in the paper."),
                "How is my best friend's business doing?",
            ),
            (
                ("My aunt {name} lives in {city}.", "There was a big flood in {city} this week."),
                "Could my aunt be affected by trouble where she lives?",
            ),
            (
                ("I bought a used {car} last month.", "The {car} needs a new transmission already."),
                "What's wrong with the car I bought?",
            ),
        ],
    },
}
SLOTS = {
    "dev": dict(
        amount=["1400", "1750", "2100"],
        pet=["Luna", "Pepper", "Mochi"],
        name2=["Rusty", "Blue", "Gus"],
        hobby=["yoga", "journaling", "pottery"],
        food=["shellfish", "peanuts", "kiwi"],
        surname=["Okafor", "Lindqvist", "Hale"],
        subject=["chemistry", "history", "art"],
        place=["garden shed", "flower pot", "mailbox"],
        name=["Priya", "Tomasz", "Imani", "Diego"],
        city=["Denver", "Glasgow", "Osaka"],
        lake=["Lake Tahoe", "Crater Lake", "Loch Lomond"],
        distance=["5k", "10k", "half-marathon"],
        animal=["fox", "heron", "wolf"],
        company=["Nimbus", "Brightwell", "Orchard Labs"],
        shop=["bike shop", "bookstore", "brewery"],
        instrument=["cello", "banjo", "ukulele"],
    ),
    "test": dict(
        job=["firefighter", "pilot", "librarian"],
        name=["Marguerite", "Kwame", "Sven", "Rosa"],
        medicine=["lisinopril", "amlodipine", "losartan"],
        object=["sewing machine", "piano", "clock"],
        course=["ceramics", "salsa", "Spanish"],
        weekday=["Tuesday", "Thursday", "Saturday"],
        pet=["Rocket", "Biscuit", "Waffles"],
        place=["sock drawer", "filing cabinet", "freezer"],
        street=["Maple", "Harbor", "Quincy"],
        band=["Coldplay", "Radiohead", "Arcade Fire"],
        city=["Lisbon", "Montreal", "Nairobi"],
        car=["Civic", "Corolla", "Golf"],
    ),
}


@dataclass(frozen=True)
class Question:
    text: str
    kind: str  # fact | time | multi
    evidence: tuple[int, ...]  # indexes into Conversation.turns: all are needed


@dataclass(frozen=True)
class Conversation:
    persona: str
    turns: tuple[tuple[str, float], ...]  # (user message, unix time), oldest first
    questions: tuple[Question, ...]  # asked after the last turn
    asked_at: float


def _sessions(split: str) -> list[list[str]]:
    """Seeker turns of one support conversation each: the persona's sessions."""
    found = []
    files = [DATASETS / "esconv" / ("train.txt" if split == "dev" else "valid.txt")]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            turns = [t["text"].strip() for t in json.loads(line)["dialog"] if t["speaker"] == "usr"]
            found.append([t for t in turns if len(t.split()) >= 3])
    if split == "test":
        path = DATASETS / "empathetic-dialogues" / "valid_conversations.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            turns = [t["text"].strip() for t in json.loads(line)["turns"] if t["role"] == "speaker"]
            found.append([t for t in turns if len(t.split()) >= 3])
    return [s for s in found if s]


def build(split: str, personas: int = 8, turns_each: int = 300, seed: int = 0) -> list[Conversation]:
    if split not in PLANTS:
        raise ValueError(f"split must be dev or test, not {split!r}")
    rng = random.Random(f"{split}-{seed}")
    sessions = _sessions(split)
    return [_persona(split, f"{split}{p}", rng, sessions, turns_each) for p in range(personas)]


def _persona(split: str, persona: str, rng: random.Random, sessions: list[list[str]], size: int) -> Conversation:
    plants: list[tuple[str, tuple[str, ...], str]] = []  # (kind, statements, question)
    for kind, count in (("fact", 5), ("time", 4), ("multi", 2)):
        for statement, question in rng.sample(PLANTS[split][kind], count):
            slots = {k: rng.choice(v) for k, v in SLOTS[split].items()}  # each plant its own values
            statements = statement if isinstance(statement, tuple) else (statement,)
            plants.append((kind, tuple(s.format(**slots) for s in statements), question.format(**slots)))
    filler: list[str] = []
    while len(filler) < size:
        filler.extend(rng.choice(sessions)[: rng.randint(4, 10)] + ["\n"])  # "\n" marks a session break
    filler = filler[:size]
    # each statement replaces a filler turn in the first 85% of the months; multi parts weeks apart
    slots_free = list(range(5, int(size * 0.85)))
    rng.shuffle(slots_free)
    where: dict[int, tuple[int, int]] = {}
    for p, (_, statements, _) in enumerate(plants):
        for s in range(len(statements)):
            where[slots_free.pop()] = (p, s)
    texts, evidence = [], {p: [] for p in range(len(plants))}
    for i, text in enumerate(filler):
        if i in where:
            p, s = where[i]
            text = plants[p][1][s]
            if rng.random() < 0.5:  # inside a long message, among a real seeker's sentences
                around = [t for t in rng.choice(sessions) if len(t.split()) > 6][:2]
                text = " ".join(_ended(t) for t in around[:1] + [text] + around[1:])
            evidence[p].append(i)
        texts.append(text)
    at, stamped = 1_700_000_000.0 + rng.randint(0, 90) * DAY, []
    for text in texts:
        at += rng.uniform(1, 4) * DAY if text == "\n" else rng.uniform(60, 300)
        if text != "\n":
            stamped.append((text, at))
    # indexes change once session markers are dropped: recount
    keep = [i for i, t in enumerate(texts) if t != "\n"]
    position = {old: new for new, old in enumerate(keep)}
    questions = tuple(
        Question(q, kind, tuple(sorted(position[i] for i in evidence[p]))) for p, (kind, _, q) in enumerate(plants)
    )
    return Conversation(persona, tuple(stamped), questions, at + 2 * DAY)


def _ended(sentence: str) -> str:
    """A user writing a fact after another thought ends that thought first."""
    return sentence if sentence[-1:] in ".!?" else sentence + "."

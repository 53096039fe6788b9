"""Written examples of questions about what the user told earlier, answered from the facts block.

Neither corpus has a listener who remembers: these teach the model to read "You know: ..." and
answer from it, or to say it has not been told yet. The facts are worded exactly as the store
words them (companion.memory.facts). Names, relations and question wordings are split so that
the test cases share no name and no question wording with training.
"""

from __future__ import annotations

import random
from typing import Any

from companion.generation.planner import plan
from companion.generation.prompt import TurnContext, build_messages
from pipelines.training.reply_example import Example

TRAIN_NAMES = (
    "Ana",
    "Luis",
    "Maya",
    "Tom",
    "Priya",
    "Omar",
    "Lena",
    "Jonas",
    "Sofia",
    "Kenji",
    "Grace",
    "Mateo",
    "Zoe",
    "Ibrahim",
    "Clara",
    "Noah",
    "Aisha",
    "Felix",
    "Nora",
    "Diego",
    "Hana",
    "Leo",
    "Emma",
    "Ravi",
)
TEST_NAMES = ("Carmen", "Yusuf", "Ingrid", "Tariq", "Beatriz", "Oskar", "Mei", "Samuel", "Fatima", "Pablo")
PEOPLE = (
    "sister",
    "brother",
    "mom",
    "dad",
    "best friend",
    "partner",
    "son",
    "daughter",
    "boss",
    "roommate",
    "husband",
    "wife",
    "grandma",
    "cousin",
)
PETS = ("dog", "cat")
ASK_TRAIN = (
    "What's my {rel}'s name?",
    "Do you remember my {rel}'s name?",
    "Who is my {rel}?",
    "Remind me, what is my {rel} called?",
    "Can you remember what my {rel} is called?",
    "what was my {rel}'s name again?",
)
ASK_TEST = ("Do you know my {rel}'s name?", "What did I say my {rel} is called?")
KNOWN = ("Your {rel}'s name is {name}.", "You told me your {rel} is {name}.", "Your {rel} is {name}.")
UNKNOWN = (
    "I don't think you've told me your {rel}'s name yet. What is it?",
    "You haven't told me your {rel}'s name yet. I'd love to know it.",
)
OTHER = [  # (fact, question, answer when known, question kind)
    ("The user works as {job}.", "What do I do for work?", "You told me you work as {job}.", "job"),
    ("The user lives in {place}.", "Where do I live?", "You said you live in {place}.", "place"),
    ("The user likes {like}.", "What do I like doing?", "You told me you like {like}.", "likes"),
]
OTHER_UNKNOWN = {
    "job": "I don't think you've told me what you do for work yet. What do you do?",
    "place": "You haven't told me where you live yet.",
    "likes": "I don't think you've told me that yet. What do you enjoy?",
}
JOBS = ("a nurse", "a teacher", "a baker", "an engineer", "a cashier", "a designer", "a driver", "a chef")
PLACES = ("Lisbon", "Chicago", "Leeds", "Toronto", "Madrid", "Osaka", "Denver", "Dublin")
LIKES = ("hiking", "painting", "baking bread", "playing chess", "swimming", "gardening", "reading novels")
USER_NAMES_TRAIN = ("Alice", "Ben", "Chloe", "Dev", "Eva", "Finn")
USER_NAMES_TEST = ("Gustavo", "Helga")


def _people_fact(rel: str, name: str) -> str:
    return f"The user's {rel} is {name}."


def cases(split: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` (facts, question, answer) cases; half with the asked fact known, some with unrelated facts only."""
    rng = random.Random(seed)
    names = TEST_NAMES if split == "test" else TRAIN_NAMES
    asks = ASK_TEST if split == "test" else ASK_TRAIN
    out = []
    while len(out) < n:
        rel = rng.choice(PEOPLE + PETS)
        name = rng.choice(names)
        others = [_people_fact(r, rng.choice(names)) for r in rng.sample([p for p in PEOPLE if p != rel], 2)]
        roll = rng.random()
        if roll < 0.15 and split != "test":
            fact_t, question, answer_t, kind = rng.choice(OTHER)
            value = {"job": rng.choice(JOBS), "place": rng.choice(PLACES), "like": rng.choice(LIKES)}
            fact = fact_t.format(**value)
            known = rng.random() < 0.6
            facts = ([fact] if known else []) + others[: rng.randint(0, 2)]
            answer = answer_t.format(**value) if known else OTHER_UNKNOWN[kind]
            out.append({"facts": facts, "question": question, "answer": answer, "known": known, "kind": kind})
            continue
        known = roll < 0.6
        facts = ([_people_fact(rel, name)] if known else []) + others[: rng.randint(0, 2)]
        rng.shuffle(facts)
        question = rng.choice(asks).format(rel=rel)
        answer = rng.choice(KNOWN if known else UNKNOWN).format(rel=rel, name=name)
        out.append(
            {
                "facts": facts,
                "question": question,
                "answer": answer,
                "known": known,
                "kind": "relation",
                "name": name if known else None,
            }
        )
    return out


def memory_examples(
    analyzer: Any, settings: Any, *, train: int = 600, dev: int = 30, test: int = 10
) -> dict[str, list[Any]]:
    """Examples for each split, prompts built as at run time (facts block, mood of the question)."""
    from companion import fusion

    out: dict[str, list[Any]] = {}
    for split, n, seed in (("train", train, 1), ("dev", dev, 2), ("test", test, 3)):
        rows = cases(split, n, seed)
        estimates = analyzer.analyze_batch([r["question"] for r in rows])
        examples = []
        for i, (row, est) in enumerate(zip(rows, estimates)):
            mood = fusion.fuse([est] if est else [], now=est.at if est else None, settings=settings)
            user_names = USER_NAMES_TEST if split == "test" else USER_NAMES_TRAIN
            name = user_names[i % len(user_names)] if i % 3 == 0 else None
            ctx = TurnContext(user="train", text=row["question"], mood=mood, facts=tuple(row["facts"]), name=name)
            chosen = plan(ctx)  # as at run time
            messages, _ = build_messages(ctx, prompt=chosen.prompt, feeling=chosen.feeling)
            examples.append(
                Example(
                    "memory",
                    f"memory:{split}:{i}",
                    split,
                    messages,
                    row["answer"],
                    chosen.prompt,
                    mood.label,
                    {"known": row["known"], "kind": row["kind"], "name": row.get("name"), "facts": row["facts"]},
                )
            )
        out[split] = examples
    return out


# Earlier turns and recalled memories as a real conversation has them: a memory question rarely
# comes first, and at run time the prompt also carries dated memories (companion.memory.retrieval).
SMALL_TALK = (
    ("I had a long day at work.", "That sounds tiring. What made it so long?"),
    ("My boss moved the deadline again.", "That's frustrating. How are you holding up?"),
    ("I finally cleaned my whole flat today!", "That's a great feeling. Well done!"),
    ("I'm a bit nervous about tomorrow.", "That's understandable. What's happening tomorrow?"),
    ("I went for a long walk this morning.", "That sounds lovely. Did it help clear your head?"),
    ("Honestly I'm just tired.", "That's okay. Do you want to talk about it, or just rest for a bit?"),
    ("We had pizza for dinner.", "Nice! Was it a good one?"),
    ("I couldn't sleep last night.", "I'm sorry. Was something on your mind?"),
    ("It rained all day here.", "Rainy days can feel long. Did you stay in?"),
    ("I got a compliment from a coworker.", "That's so nice to hear! How did it feel?"),
    ("Thanks for listening.", "Any time. I'm glad you told me."),
    ("I burnt the toast, ugh.", "Oh no! Not the best start to the day."),
)
MEMORY_NOW = 1_790_000_000  # "today" for the dated memories of these examples (a fixed clock: reproducible)
SAID = {
    "people": (
        "My {rel} {name} is visiting next week.",
        "I had lunch with my {rel} {name} today.",
        "My {rel} is {name}, by the way.",
        "{name}, my {rel}, called me last night.",
    ),
    "other": (
        "I watched a film about space.",
        "Work was busy again.",
        "I want to start running.",
        "The neighbours had a party.",
    ),
}


def cases_in_context(split: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`cases`, each with 0-3 earlier turns and, for most, the dated memory of when it was said."""
    rng = random.Random(seed + 100)
    out = []
    for case in cases(split, n, seed):
        turns = rng.sample(SMALL_TALK, rng.randint(0, 3))
        history = [{"role": r, "content": t} for pair in turns for r, t in zip(("user", "assistant"), pair)][-3:]
        said = [rng.choice(SAID["other"]) for _ in range(rng.randint(0, 2))]
        if case.get("name") and rng.random() < 0.7:
            rel = case["question"].split("my ")[1].split("'s")[0].split(" is")[0].split(" called")[0].rstrip("?")
            said.insert(rng.randint(0, len(said)), rng.choice(SAID["people"]).format(rel=rel, name=case["name"]))
        memories = [{"at": MEMORY_NOW - rng.randint(1, 200) * 86400, "text": s} for s in said]
        out.append({**case, "history": history, "memories": memories})
    return out


def memory_context_examples(analyzer: Any, settings: Any, split: str, n: int, seed: int) -> list[Any]:
    """Examples of `cases_in_context`, prompts built as at run time (history, dated memories, facts)."""
    from companion import fusion
    from companion.memory.retrieval import dated

    rows = cases_in_context(split, n, seed)
    examples = []
    for i, (row, est) in enumerate(zip(rows, analyzer.analyze_batch([r["question"] for r in rows]))):
        mood = fusion.fuse([est] if est else [], now=est.at if est else None, settings=settings)
        ctx = TurnContext(
            user="train",
            text=row["question"],
            mood=mood,
            facts=tuple(row["facts"]),
            memories=dated(row["memories"], MEMORY_NOW),
            history=tuple(row["history"]),
        )
        chosen = plan(ctx)
        messages, _ = build_messages(ctx, prompt=chosen.prompt, feeling=chosen.feeling)
        examples.append(
            Example(
                "memory_ctx",
                f"memory_ctx:{split}:{i}",
                split,
                messages,
                row["answer"],
                chosen.prompt,
                mood.label,
                {
                    "known": row["known"],
                    "kind": row["kind"],
                    "name": row.get("name"),
                    "facts": row["facts"],
                    "history": row["history"],
                    "memories": row["memories"],
                },
            )
        )
    return examples

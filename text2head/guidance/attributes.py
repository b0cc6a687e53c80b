"""Zero-shot attributes from CLIP's text space, for what the prompt reader's lexicon misses.

A prompt such as "a pirate captain" or "Santa Claus" names no attribute word, yet CLIP's text
encoder places it near "a man with a beard" and "an old person". The prompt's embedding is
compared with a small bank of attribute phrases; a phrase counts when it is clearly closer to
the prompt than a plain "a photo of a person" is. The bank is encoded once per model (the
guide caches text embeddings), so a prompt costs one text encoding. The lexicon wins: a
family it already read is never overridden.
"""

from __future__ import annotations

from torch.nn.functional import normalize

from text2head.understand import Attribute, Understanding

# (family, name, value, phrase): values as the prompt reader gives them.
PHRASES = (
    ("gender", "man", 1.0, "a photo of a man"),
    ("gender", "woman", 1.0, "a photo of a woman"),
    ("age", "years", 80.0, "a photo of an old person"),
    ("age", "years", 8.0, "a photo of a child"),
    ("hair", "bald", 1.0, "a photo of a bald person"),
    ("hair", "length", 1.0, "a photo of a person with long hair"),
    ("facial_hair", "beard", 1.0, "a photo of a man with a beard"),
    ("facial_hair", "moustache", 1.0, "a photo of a man with a moustache"),
    ("expression", "smiling", 1.0, "a photo of a smiling person"),
    ("expression", "angry", 1.0, "a photo of an angry person"),
    ("expression", "sad", 1.0, "a photo of a sad person"),
    ("expression", "surprised", 1.0, "a photo of a surprised person"),
    ("build", "weight", 1.0, "a photo of an overweight person"),
    ("build", "weight", -1.0, "a photo of a very thin person"),
)
NEUTRAL_PHRASE = "a photo of a person"
MARGIN = 0.03  # cosine similarity above the neutral phrase that makes a phrase count


def zero_shot_attributes(guide, prompt: str) -> list[Attribute]:
    """The best phrase of each family that beats the neutral phrase by `MARGIN`."""
    phrases = [phrase for *_, phrase in PHRASES]
    embeddings = normalize(guide.encode_text([prompt, NEUTRAL_PHRASE, *phrases]).float(), dim=-1)
    similarity = embeddings[1:] @ embeddings[0]
    floor = float(similarity[0]) + MARGIN
    best: dict[str, tuple[float, Attribute]] = {}
    for (family, name, value, phrase), score in zip(PHRASES, similarity[1:].tolist(),
                                                    strict=True):
        if score > floor and score > best.get(family, (float("-inf"),))[0]:
            words = f"(CLIP) {phrase.removeprefix('a photo of ')}"
            best[family] = (score, Attribute(family, name, value, words))
    return [attribute for _, attribute in best.values()]


def with_zero_shot(understood: Understanding, guide) -> Understanding:
    """`understood` plus CLIP's attributes for the families the lexicon did not read."""
    read = {attribute.family for attribute in understood.attributes}
    extra = [a for a in zero_shot_attributes(guide, understood.prompt) if a.family not in read]
    return Understanding(understood.prompt, understood.attributes + tuple(extra))

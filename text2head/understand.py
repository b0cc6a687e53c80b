"""Read a text prompt into head attributes with a lexicon: no model weights, well under 1 ms.

The instant head (`text2head.instant`) and the engine need to know what a prompt states
before CLIP has seen a single render, so the reader is plain regular expressions over a data
table. It reads English; anything else (unknown words, other languages) is ignored, never an
error.

Values: `age/years` is in years; bipolar attributes (`nose/size`, `build/weight`, `pose/yaw`,
...) are signed strengths (+1 the named direction, -1 its opposite); every other attribute is
a strength where 1 is plainly stated, "slightly" halves it, "very" makes it 1.5 and a negated
one ("without a beard", "not smiling") is 0: stated absent.

"Left" and "right" are the person's own sides, as in "his left eye": "looking left" turns the
face toward the person's left (the viewer's right), and "winking left" closes the left eye.

Only the first person of the prompt is read: "an old man next to a young girl" gives an old man;
an expression that follows several people ("a man and a woman, both smiling") is theirs too.
Where no person word names a gender, facial hair ("a bearded wizard") says a man and the first
pronoun ("a wizard with her glasses") says who it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Sense = tuple[str, str, float]  # family, name, value

# ----- lexicon ---------------------------------------------------------------------------
# Phrases are regular expressions over lower-case words (hyphens split words, plural feature
# nouns are singular: "eyes" reads "eye"); each gives one or more senses.

_MAN = (r"m[ae]n|males?|guys?|gentlem[ae]n|gents?|fathers?|dads?|husbands?|kings?|princes?"
        r"|sons?|brothers?|uncles?|businessm[ae]n|lads?|blokes?|dudes?|mr|monks?|actors?"
        r"|boyfriends?|grooms?|cowboys?|fisherm[ae]n|policem[ae]n|sailors?")
_WOMAN = (r"wom[ae]n|females?|lady|ladies|mothers?|moms?|mums?|wife|wives|queens?"
          r"|princess(es)?|daughters?|sisters?|aunts?|actress(es)?|businesswom[ae]n|brides?"
          r"|nuns?|witch(es)?|madam|mrs|ms|lass(es)?|gals?|girlfriends?")
_BOY, _GIRL = r"boys?|schoolboys?", r"girls?|schoolgirls?"
_GRANDPA = r"grandfathers?|grandpas?|granddads?|grandads?|grandpop"
_GRANDMA = r"grandmothers?|grandmas?|grann(y|ies)|nans?|nanas?"
_CHILD = r"child|children|kids?"
_BABY = r"bab(y|ies)|infants?|newborns?|toddlers?"
PERSON = "|".join((_MAN, _WOMAN, _BOY, _GIRL, _GRANDPA, _GRANDMA, _CHILD, _BABY,
                   r"persons?|people|someone|somebody|humans?|individuals?|friends?|couple"))
_SOMEONE = rf"(?= ({PERSON})\b)"  # an adjective that describes a person: "a white man"
_THE = r"( (his|her|their|the|a))?"
_SIDES = (("left", 1.0), ("right", -1.0))

PHRASES: list[tuple[str, tuple[Sense, ...]]] = [
    # who
    (_MAN, (("gender", "man", 1.0),)),
    (_WOMAN, (("gender", "woman", 1.0),)),
    (r"masculine|manly", (("gender", "man", 1.0),)),
    (r"feminine|womanly", (("gender", "woman", 1.0),)),
    (r"androgynous", (("gender", "androgynous", 1.0),)),
    (_BOY, (("age", "years", 12), ("gender", "man", 1.0))),
    (_GIRL, (("age", "years", 12), ("gender", "woman", 1.0))),
    (rf"(young|little|small) ({_BOY})", (("age", "years", 8), ("gender", "man", 1.0))),
    (rf"(young|little|small) ({_GIRL})", (("age", "years", 8), ("gender", "woman", 1.0))),
    (_GRANDPA, (("age", "years", 78), ("gender", "man", 1.0))),
    (_GRANDMA, (("age", "years", 78), ("gender", "woman", 1.0))),
    (rf"(young|little|small) ({_CHILD})|{_CHILD}", (("age", "years", 8),)),
    (_BABY, (("age", "years", 2),)),
    (r"teens?|teenagers?|teenage|adolescents?", (("age", "years", 16),)),
    (r"young|youthful|youngsters?", (("age", "years", 22),)),
    (r"middle aged|midlife", (("age", "years", 47),)),
    (r"mature", (("age", "years", 52),)),
    (r"older", (("age", "years", 62),)),
    (r"old|aged|aging|ageing|seniors?|pensioners?|retired", (("age", "years", 80),)),
    (r"elderly", (("age", "years", 82),)),
    (r"ancient|very very old", (("age", "years", 95),)),
    (r"twenties", (("age", "years", 25),)),
    (r"thirties", (("age", "years", 35),)),
    (r"forties", (("age", "years", 45),)),
    (r"fifties", (("age", "years", 55),)),
    (r"sixties", (("age", "years", 65),)),
    (r"seventies", (("age", "years", 75),)),
    (r"eighties", (("age", "years", 85),)),
    (r"nineties", (("age", "years", 95),)),
    # build
    (r"thin|skinny|slim|slender|lean|bony|scrawny|underweight", (("build", "weight", -1.0),)),
    (r"emaciated|gaunt|skeletal", (("build", "weight", -1.5),)),
    (r"chubby|fat|plump|overweight|heavy|heavyset|stout|portly|chunky|pudgy|rotund",
     (("build", "weight", 1.0),)),
    (r"obese|morbidly obese", (("build", "weight", 1.5),)),
    (r"muscular|athletic|buff|ripped|brawny|bodybuilder|strongman|fit",
     (("build", "muscle", 1.0),)),
    (r"burly|beefy", (("build", "muscle", 1.0), ("build", "weight", 0.5))),
    (r"frail|weak|feeble|puny", (("build", "muscle", -1.0),)),
    # ancestry and skin tone, only as stated
    (r"african|nigerian|kenyan|ethiopian|ghanaian|african american",
     (("ancestry", "african", 1.0),)),
    (rf"black{_SOMEONE}", (("ancestry", "african", 1.0),)),
    (r"asian|east asian|chinese|japanese|korean|vietnamese|thai|filipino|mongolian",
     (("ancestry", "asian", 1.0),)),
    (r"european|caucasian|scandinavian|nordic|british|english|irish|german|french|italian"
     r"|russian|swedish|norwegian|polish", (("ancestry", "european", 1.0),)),
    (rf"white{_SOMEONE}", (("ancestry", "european", 1.0),)),
    (r"indian|south asian|pakistani|bangladeshi|sri lankan", (("ancestry", "south asian", 1.0),)),
    (r"latino|latina|hispanic|mexican|brazilian|latin american", (("ancestry", "latino", 1.0),)),
    (r"middle eastern|arab|arabic|persian|iranian|turkish|egyptian",
     (("ancestry", "middle eastern", 1.0),)),
    (r"pale|pasty|pallid", (("skin", "tone", -1.0),)),
    (r"tanned|tan|suntanned|sun tanned|bronzed", (("skin", "tone", 0.5),)),
    (r"freckles?|freckled", (("skin", "freckles", 1.0),)),
    (r"wrinkles?|wrinkled|wrinkly|weathered|lined face", (("skin", "wrinkles", 1.0),)),
    (r"rosy|ruddy|flushed|blushing|rosy cheek", (("skin", "rosy", 1.0),)),
    (r"lipstick|red lip|painted lip", (("skin", "lipstick", 1.0),)),
    (r"make ?up|made up|makeup|mascara|eyeliner|eye ?shadow|cosmetics",
     (("skin", "makeup", 1.0),)),
    # hair
    (r"bald|hairless|baldy", (("hair", "bald", 1.0),)),
    (r"balding|receding hairline|thinning hair", (("hair", "bald", 0.5),)),
    (r"shaved|shaven|buzz ?cut|crew ?cut|buzzcut|crewcut|skinhead", (("hair", "shaved", 1.0),)),
    (r"pixie cut", (("hair", "length", -1.0),)),
    (r"shoulder length", (("hair", "length", 1.0),)),
    (r"bob|bob cut|bobbed|bob haircut|bob hairstyle", (("hair", "bob", 1.0),)),
    (r"pony ?tails?|pigtails?|bun|top ?knot|hair tied back|tied back hair",
     (("hair", "ponytail", 1.0),)),
    (r"braids?|braided|plaits?|plaited|cornrows|dreadlocks|dreads|locs",
     (("hair", "braid", 1.0),)),
    (r"afro|fro", (("hair", "afro", 1.0),)),
    (r"curly|curls|ringlets|frizzy|kinky", (("hair", "curly", 1.0),)),
    (r"wavy", (("hair", "curly", 0.5),)),
    (r"blonde?|platinum blonde?", (("hair_colour", "blonde", 1.0),)),
    (r"redhead|redheaded|ginger", (("hair_colour", "red", 1.0),)),
    (r"brunette", (("hair_colour", "brown", 1.0),)),
    (r"salt and pepper", (("hair_colour", "grey", 0.5),)),
    (r"silver fox", (("hair_colour", "grey", 1.0),)),
    # facial hair
    (r"facial hair|beardy", (("facial_hair", "beard", 1.0),)),
    (r"mustachioed", (("facial_hair", "moustache", 1.0),)),
    (r"unshaven|unshaved|stubbly|scruffy|five o ?clock shadow", (("facial_hair", "stubble", 1.0),)),
    (r"clean shaven|clean shaved|beardless|shaved face|smooth shaven",
     (("facial_hair", "clean-shaven", 1.0),)),
    (r"unibrow|monobrow", (("brows", "thickness", 1.5),)),
    # expression
    (r"smil(e|es|ed|ing|ey)|cheerful|joyful|jolly|beaming", (("expression", "smiling", 1.0),)),
    (r"happy|glad", (("expression", "smiling", 0.7),)),
    (r"unsmiling", (("expression", "smiling", 0.0),)),
    (r"grin(s|ned|ning)?|toothy smile|big smile|broad smile", (("expression", "grinning", 1.0),)),
    (r"smirk(s|ed|ing)?|half smile|wry smile", (("expression", "smirking", 1.0),)),
    (r"laugh(s|ed|ing|ter)?|giggl(e|es|ed|ing)|chuckl(e|es|ed|ing)|cackl(e|es|ed|ing)",
     (("expression", "laughing", 1.0),)),
    (r"angry|anger|mad|enraged|rage|raging|scowl(s|ed|ing)?|irate|hostile",
     (("expression", "angry", 1.0),)),
    (r"furious|livid|fuming", (("expression", "angry", 1.5),)),
    (r"annoyed|irritated|grumpy|cranky|displeased", (("expression", "angry", 0.5),)),
    (r"shout(s|ed|ing)?|yell(s|ed|ing)?|scream(s|ed|ing)?|roar(s|ed|ing)?|hollering",
     (("expression", "shouting", 1.0),)),
    (r"sad|sadness|unhappy|sorrowful|melancholy|melancholic|gloomy|depressed|miserable"
     r"|heartbroken|upset|dejected|downcast|mournful", (("expression", "sad", 1.0),)),
    (r"cr(y|ies|ied|ying)|weep(s|ing)?|sobb?(s|ing)?|tearful|in tears|tears",
     (("expression", "crying", 1.0),)),
    (r"surprised?|astonished|amazed|startled|stunned|gasp(s|ed|ing)?|raised brow",
     (("expression", "surprised", 1.0),)),
    (r"shocked|astounded|flabbergasted", (("expression", "surprised", 1.5),)),
    (r"scared|afraid|frightened|fearful|fear|horrified|panicked|panicking",
     (("expression", "scared", 1.0),)),
    (r"terrified|petrified", (("expression", "scared", 1.5),)),
    (r"worried|anxious|nervous", (("expression", "scared", 0.5),)),
    (r"disgust|disgusted|grossed out|repulsed|revolted", (("expression", "disgusted", 1.0),)),
    (r"sneer(s|ed|ing)?", (("expression", "disgusted", 0.6),)),
    *[(rf"wink(s|ed|ing)?( with)?{_THE} {side}( eye)?|{side} eye (closed|shut|winking)",
       (("expression", f"winking {side}", 1.0),)) for side, _ in _SIDES],
    (r"wink(s|ed|ing)?", (("expression", "winking left", 1.0),)),
    (r"(closed|shut) eye|eye (are )?(closed|shut)|clos(e|es|ed|ing)( his| her| their)? eye"
     r"|blink(s|ed|ing)?", (("expression", "eyes closed", 1.0),)),
    (r"sleep(s|ing)?|asleep|napping|dozing|snoozing|slumbering",
     (("expression", "sleeping", 1.0),)),
    (r"open mouth(ed)?|mouth (wide )?open|gaping|agape|mouth agape|open mouthed",
     (("expression", "mouth open", 1.0),)),
    (r"yawn(s|ed|ing)?", (("expression", "mouth open", 1.5),)),
    (r"tongue (sticking |hanging )?out|stick(s|ing)?( out)?{_THE} tongue( out)?"
     r"|show(s|ing)?{_THE} tongue", (("expression", "tongue out", 1.0),)),
    (r"puff(s|ed|ing)?( out)?{_THE} cheek|cheek puffed( out)?|puffed out cheek|puffed cheek",
     (("expression", "puffed cheeks", 1.0),)),
    (r"pout(s|ed|ing|y)?|pursed lip|purs(e|es|ed|ing){_THE} lip|duck face",
     (("expression", "pouting", 1.0),)),
    (r"pucker(s|ed|ing)?( up)?{_THE} lip|puckered lip|lip puckered|pucker(s|ed|ing)?( up)?"
     r"|blow(s|ing|n)?( a)? kiss(es)?|blew( a)? kiss(es)?|air kiss(es)?|kissy (face|lip)"
     r"|lip (ready|puckered) for a kiss",
     (("expression", "pucker", 1.0),)),
    (r"heavy lidded|heavy eye(lids?)?|(sleepy|bleary|tired|weary) eye|half (closed|shut|open) eye"
     r"|eye half (closed|shut|open)|(droopy|drooping) eye(lids?)?"
     r"|drowsy|sleepy|tired|weary|exhausted", (("expression", "half-closed eyes", 1.0),)),
    (r"squint(s|ed|ing)?|narrow(s|ed|ing){_THE} eye|eye narrowed",
     (("expression", "squinting", 1.0),)),
    (r"frown(s|ed|ing)?|furrowed brow|knitted brow|brow furrowed",
     (("expression", "frowning", 1.0),)),
    (r"stern|serious|severe|grim|solemn|strict|menacing", (("expression", "stern", 1.0),)),
    (r"neutral (expression|face|look)|expressionless|blank (expression|stare|face|look)"
     r"|poker face|deadpan|emotionless|straight face|no expression",
     (("expression", "neutral", 1.0),)),
    # pose
    *[(rf"(look(s|ed|ing)?|fac(e|es|ed|ing)|turn(s|ed|ing)?|glanc(e|es|ed|ing)"
       rf"|gaz(e|es|ed|ing)|head turned)( to(wards?)?)?{_THE} {side}",
       (("pose", "yaw", sign),)) for side, sign in _SIDES],
    *[(rf"(look(s|ed|ing)?|glanc(e|es|ed|ing)) (back )?over{_THE} {side} shoulder",
       (("pose", "yaw", 1.7 * sign),)) for side, sign in _SIDES],
    (r"(look(s|ed|ing)?|gaz(e|es|ed|ing)|glanc(e|es|ed|ing)|head tilted) (up|upwards?)"
     r"|chin (up|raised)", (("pose", "pitch", 1.0),)),
    (r"(look(s|ed|ing)?|gaz(e|es|ed|ing)|glanc(e|es|ed|ing)) (down|downwards?)|head (down|bowed)"
     r"|bow(s|ed|ing){_THE} head", (("pose", "pitch", -1.0),)),
    *[(rf"(tilt(s|ed|ing)?|cock(s|ed|ing)?|lean(s|ed|ing)?){_THE} head( to(wards?)?{_THE} {side})"
       rf"|head (tilted|cocked|tilt|leaning)( to(wards?)?{_THE} {side})"
       rf"|tilt(s|ed|ing)?( to(wards?)?{_THE} {side})", (("pose", "roll", sign),))
      for side, sign in _SIDES],
    (r"(tilt(s|ed|ing)?|cock(s|ed|ing)?){_THE} head|head (tilted|cocked|tilt)|tilted|tilting",
     (("pose", "roll", 1.0),)),
]

# Feature nouns and the adjectives that describe them ("a big, hooked nose", "blue-eyed").
# Each noun: its senses when named alone, its senses when negated (None: the bare senses at 0)
# and its adjectives.
SIZE = {"big": 1.0, "large": 1.0, "huge": 1.5, "enormous": 1.7, "giant": 1.5, "massive": 1.5,
        "prominent": 1.0, "small": -1.0, "tiny": -1.5, "little": -1.0, "petite": -1.0}
HAIR_COLOUR = {"black": "black", "jet": "black", "raven": "black", "brown": "brown",
               "chestnut": "brown", "brunette": "brown", "blonde": "blonde", "blond": "blonde",
               "golden": "blonde", "fair": "blonde", "flaxen": "blonde", "platinum": "platinum",
               "red": "red", "ginger": "red", "copper": "red", "orange": "red",
               "auburn": "auburn", "strawberry": "strawberry", "grey": "grey", "gray": "grey",
               "greying": "grey", "graying": "grey", "silver": "grey", "white": "white",
               "snowy": "white", "blue": "blue", "teal": "blue", "turquoise": "blue",
               "pink": "pink", "purple": "purple", "violet": "purple", "lavender": "purple",
               "green": "green", "rainbow": "rainbow"}
LIGHTNESS = {"light": 1.0, "pale": 1.0, "dark": -1.0, "deep": -1.0}
HAIR_WORDS = {
    **{w: (("hair", "length", 1.0),) for w in ("long", "flowing", "lengthy")},
    **{w: (("hair", "length", -1.0),) for w in ("short", "cropped", "closely cropped")},
    **{w: (("hair", "curly", 1.0),) for w in ("curly", "frizzy", "kinky", "coily", "afro")},
    "wavy": (("hair", "curly", 0.5),),
    **{w: (("hair", "volume", 1.0),) for w in ("thick", "voluminous", "bushy", "big", "full",
                                                "fluffy", "messy", "wild", "shaggy", "puffy")},
    **{w: (("hair", "volume", -1.0),) for w in ("thin", "fine", "flat", "sleek", "slicked",
                                                 "straight", "neat")},
    "thinning": (("hair", "bald", 0.5),),
    "bald": (("hair", "bald", 1.0),), "shaved": (("hair", "shaved", 1.0),),
    **{w: (("hair_colour", c, 1.0),) for w, c in HAIR_COLOUR.items()},
    **{w: (("hair_colour", "lightness", v),) for w, v in LIGHTNESS.items()},
}
BEARD_WORDS = {
    **{w: (("facial_hair", "length", 1.0),) for w in ("long", "flowing", "big", "huge")},
    **{w: (("facial_hair", "length", -1.0),) for w in ("short", "trimmed", "neat", "cropped")},
    **{w: (("facial_hair", "density", 1.0),) for w in ("thick", "full", "bushy", "dense",
                                                        "heavy", "shaggy", "wild", "scruffy")},
    **{w: (("facial_hair", "density", -1.0),) for w in ("thin", "sparse", "patchy", "wispy",
                                                         "light")},
    **{w: (("beard_colour", c, 1.0),) for w, c in HAIR_COLOUR.items()},
}
EYE_COLOUR = {"blue": "blue", "green": "green", "brown": "brown", "hazel": "hazel",
              "grey": "grey", "gray": "grey", "dark": "dark", "black": "dark", "amber": "amber",
              "violet": "violet", "icy": "blue"}
SKIN_TONE = {"pale": -1.0, "fair": -1.0, "light": -0.7, "white": -0.7, "porcelain": -1.2,
             "olive": 0.4, "tan": 0.5, "tanned": 0.5, "brown": 1.0, "dark": 1.0, "black": 1.4,
             "ebony": 1.4, "bronze": 0.6}


def _axis(family: str, name: str, words: dict[str, float]) -> dict[str, tuple[Sense, ...]]:
    return {word: ((family, name, value),) for word, value in words.items()}


NOUNS: dict[str, tuple[tuple[Sense, ...], tuple[Sense, ...] | None,
                       dict[str, tuple[Sense, ...]]]] = {
    "hair": ((), (("hair", "bald", 1.0),), HAIR_WORDS),
    "beard": ((("facial_hair", "beard", 1.0),), None, BEARD_WORDS),
    "moustache": ((("facial_hair", "moustache", 1.0),), None, BEARD_WORDS),
    "goatee": ((("facial_hair", "goatee", 1.0),), None, BEARD_WORDS),
    "stubble": ((("facial_hair", "stubble", 1.0),), None, BEARD_WORDS),
    "nose": ((), (), {
        **_axis("nose", "size", SIZE),
        **_axis("nose", "length", {"long": 1.0, "short": -1.0}),
        **_axis("nose", "width", {"wide": 1.0, "broad": 1.0, "flat": 1.0, "bulbous": 1.0,
                                  "narrow": -1.0, "thin": -1.0, "pointy": -1.0, "pointed": -1.0,
                                  "sharp": -1.0, "slim": -1.0}),
        **_axis("nose", "hump", {"hooked": 1.0, "hook": 1.0, "aquiline": 1.0, "roman": 1.0,
                                 "crooked": 1.0, "bumpy": 1.0, "beak": 1.0, "beaked": 1.0}),
        **_axis("nose", "upturned", {"upturned": 1.0, "snub": 1.0, "button": 1.0, "pug": 1.0,
                                     "turned up": 1.0}),
    }),
    "chin": ((), (), {
        **_axis("chin", "prominence", {"strong": 1.0, "prominent": 1.0, "jutting": 1.0,
                                       "big": 1.0, "pointy": 0.7, "pointed": 0.7, "weak": -1.0,
                                       "receding": -1.0, "small": -1.0, "little": -1.0}),
        **_axis("chin", "width", {"wide": 1.0, "broad": 1.0, "square": 1.0, "narrow": -1.0}),
        **_axis("chin", "double", {"double": 1.0}),
        **_axis("chin", "cleft", {"cleft": 1.0, "dimpled": 1.0}),
    }),
    "jaw": ((), (), _axis("jaw", "width", {
        "strong": 1.0, "square": 1.0, "wide": 1.0, "broad": 1.0, "chiseled": 1.0,
        "chiselled": 1.0, "angular": 1.0, "big": 1.0, "heavy": 1.0, "narrow": -1.0,
        "soft": -1.0, "weak": -1.0, "small": -1.0, "delicate": -1.0})),
    "cheekbone": ((), (), _axis("cheekbones", "prominence", {
        "high": 1.0, "prominent": 1.0, "sharp": 1.0, "defined": 1.0, "chiseled": 1.0,
        "chiselled": 1.0, "strong": 1.0, "flat": -1.0, "low": -1.0})),
    "cheek": ((), (), {
        **_axis("cheeks", "volume", {"chubby": 1.0, "round": 1.0, "full": 1.0, "plump": 1.0,
                                     "fat": 1.0, "puffy": 1.0, "chipmunk": 1.5, "hollow": -1.0,
                                     "sunken": -1.0, "gaunt": -1.0, "thin": -1.0}),
        **_axis("skin", "rosy", {"rosy": 1.0, "red": 1.0, "ruddy": 1.0, "flushed": 1.0,
                                 "pink": 1.0, "blushing": 1.0}),
        **_axis("cheeks", "dimples", {"dimpled": 1.0}),
    }),
    "eye": ((), (), {
        **_axis("eyes", "size", {**SIZE, "wide": 1.0, "doe": 1.0, "bulging": 1.5,
                                 "narrow": -1.0, "squinty": -1.0, "beady": -1.0}),
        **{w: (("eye_colour", c, 1.0),) for w, c in EYE_COLOUR.items()},
    }),
    "lip": ((), (), {
        **_axis("lips", "fullness", {"full": 1.0, "thick": 1.0, "big": 1.0, "plump": 1.0,
                                     "fleshy": 1.0, "pouty": 1.0, "luscious": 1.0,
                                     "thin": -1.0, "small": -1.0, "narrow": -1.0}),
        **_axis("skin", "lipstick", {"red": 1.0, "painted": 1.0, "glossy": 0.7}),
    }),
    "mouth": ((), (), _axis("mouth", "width", {**SIZE, "wide": 1.0, "broad": 1.0,
                                               "narrow": -1.0})),
    "ear": ((), (), {
        **_axis("ears", "size", SIZE),
        **_axis("ears", "protruding", {"protruding": 1.0, "jug": 1.0, "sticking out": 1.0,
                                       "dumbo": 1.0, "flappy": 1.0}),
    }),
    "face": ((), (), {
        **_axis("face", "length", {"long": 1.0, "oval": 0.5, "short": -1.0}),
        **_axis("face", "width", {"wide": 1.0, "broad": 1.0, "round": 1.0, "square": 0.5,
                                  "chubby": 1.0, "fat": 1.0, "full": 0.7, "moon": 1.2,
                                  "narrow": -1.0, "thin": -1.0, "slim": -1.0, "gaunt": -1.0}),
        **_axis("skin", "wrinkles", {"wrinkled": 1.0, "wrinkly": 1.0, "weathered": 1.0,
                                     "lined": 1.0}),
        **_axis("skin", "freckles", {"freckled": 1.0}),
        **_axis("skin", "tone", {"pale": -1.0}),
    }),
    "forehead": ((), (), _axis("forehead", "height", {
        **SIZE, "high": 1.0, "tall": 1.0, "wide": 1.0, "broad": 1.0, "low": -1.0,
        "narrow": -1.0})),
    "head": ((), (), {
        **_axis("head", "size", SIZE),
        "bald": (("hair", "bald", 1.0),), "shaved": (("hair", "shaved", 1.0),),
        "shaven": (("hair", "shaved", 1.0),), "hairless": (("hair", "bald", 1.0),),
        "red": (("hair_colour", "red", 1.0),),
    }),
    "brow": ((), (("brows", "none", 1.0),), _axis("brows", "thickness", {
        "bushy": 1.0, "thick": 1.0, "heavy": 1.0, "dense": 1.0, "big": 1.0, "full": 1.0,
        "strong": 0.7, "thin": -1.0, "sparse": -1.0, "plucked": -1.0, "faint": -1.0,
        "pencil": -1.0, "light": -0.7, "narrow": -1.0})),
    "skin": ((), (), {**_axis("skin", "tone", SKIN_TONE),
                      "freckled": (("skin", "freckles", 1.0),),
                      "wrinkled": (("skin", "wrinkles", 1.0),),
                      "rosy": (("skin", "rosy", 1.0),), "ruddy": (("skin", "rosy", 1.0),)}),
}
NOUN_FORMS = {
    **{form: noun for noun in NOUNS
       for form in (noun + "s", noun + ("d" if noun.endswith("e") else "ed"))},
    "mustache": "moustache", "mustaches": "moustache", "mustached": "moustache",
    "moustached": "moustache", "stache": "moustache", "eyebrow": "brow", "eyebrows": "brow",
    "eyebrowed": "brow", "lipped": "lip", "chinned": "chin", "skinned": "skin",
    "jawline": "jaw",
    "complexion": "skin", "hairstyle": "hair", "haircut": "hair", "hairdo": "hair",
    "locks": "hair", "cheekboned": "cheekbone",
}

INTENSITY = {"slightly": 0.5, "somewhat": 0.6, "mildly": 0.5, "faintly": 0.4, "barely": 0.3,
             "lightly": 0.5, "moderately": 0.7, "fairly": 0.8, "rather": 0.9, "quite": 1.2,
             "pretty": 1.2, "very": 1.5, "really": 1.5, "so": 1.5, "super": 1.7,
             "extremely": 2.0, "incredibly": 2.0, "exceptionally": 2.0, "hugely": 2.0,
             "a bit": 0.5, "a little": 0.5, "kind of": 0.6, "sort of": 0.6, "a tad": 0.5}
NEGATORS = {"no", "not", "without", "never", "non", "neither", "nor", "zero", "isn't",
            "aren't", "doesn't", "don't", "without any", "lacking", "nothing"}
CLAUSE_ENDS = {",", ".", ";", ":", "!", "?", "(", ")", "/", "and", "but", "with", "while", "who",
               "whose", "&"}
NOUN_JOINERS = {",", "and", "&"}
ALTERNATIVES = {"or", "nor"}
LINKS = {"is", "are", "was", "were", ":", "that", "of"}  # "eyes that are blue"
SECOND_PERSON = {"and", "next", "beside", "besides", "with", "alongside", "behind", "near",
                 "holding", "hugging", "kissing", "carrying", "&", ",", "plus", "versus", "vs"}
# Words after the last person that describe everyone ("a man and a woman, both smiling"), and
# the words that list people as equals ("a man and a woman smiling": both smile, but "a man
# next to a girl laughing" is the girl's laugh); the families such a description gives all.
EVERYONE = {"both", "all", "each", "together", "alike", "everyone"}
LISTING = {"and", "&", ",", "plus"}
SHARED_FAMILIES = {"expression"}
# Cues to a gender when no person word names one: facial hair, and the first pronoun.
FACIAL_HAIR_CUES = {"beard", "moustache", "goatee", "stubble"}
PRONOUNS = {**dict.fromkeys(("he", "his", "him", "himself"), "man"),
            **dict.fromkeys(("she", "her", "hers", "herself"), "woman")}
# Families in which a second, different name contradicts the first: the first stated wins.
EXCLUSIVE = {"gender", "age", "eye_colour"}
PERSON_FAMILIES = ("age", "build", "ancestry", "gender")  # "old thin asian man"
NEGATION_DROPS = {"age", "gender", "ancestry", "build"}  # "not old" says nothing usable
AGE_RANGE = (1.0, 100.0)
# Ages in numbers: pattern with one group of digits, years per digit unit, years added.
NUMERIC_AGES = (
    (r"(\d{1,3}) (years?|yrs?|yo) old", 1, 0),
    (r"(\d{1,3}) yo|aged? (\d{1,3})", 1, 0),
    (r"(in|into){_THE} ([1-9])0s", 10, 5),
    (r"(in|into){_THE} early ([1-9])0s", 10, 2),
    (r"(in|into){_THE} (mid|middle) ([1-9])0s", 10, 5),
    (r"(in|into){_THE} late ([1-9])0s", 10, 8),
)


# ----- result ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Attribute:
    """One thing the prompt states, with the words that stated it."""

    family: str
    name: str
    value: float
    words: str


@dataclass(frozen=True)
class Understanding:
    """What a prompt states, in prompt order (empty when nothing was understood)."""

    prompt: str
    attributes: tuple[Attribute, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.attributes)

    def get(self, family: str, name: str | None = None) -> Attribute | None:
        """The first attribute of `family` (and `name`), or None."""
        return next((a for a in self.attributes
                     if a.family == family and name in (None, a.name)), None)

    def summary(self) -> str:
        """A short line a person can check, e.g. "old man · bald · long white beard"."""
        person = _unique(a.words for a in self.attributes if a.family in PERSON_FAMILIES)
        rest = _unique(a.words for a in self.attributes if a.family not in PERSON_FAMILIES)
        # "no beard or moustache" covers "no beard": show the longer words only; "man
        # (bearded)" covers "bearded".
        rest = [w for w in rest if not any(w != other and w in other for other in rest)
                and not any(f"({w})" in words for words in person)]
        return " · ".join(([" ".join(person)] if person else []) + rest)


# ----- reading ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    word: str  # lower case, plural feature nouns singular
    start: int
    end: int


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\S)(?:{pattern.replace('{_THE}', _THE)})(?!\S)")


_PHRASES = [(_compile(pattern), senses) for pattern, senses in PHRASES]
_NUMERIC = [(_compile(pattern), unit, offset) for pattern, unit, offset in NUMERIC_AGES]
_PERSON = _compile(PERSON)
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s'-]")
_MAX_NEGATION_GAP = 3


def understand(prompt: str) -> Understanding:
    """The attributes `prompt` states about its first person."""
    text = prompt.lower().replace("\u2019", "'")
    tokens, shared = _first_person(_tokens(text))
    attributes = _Reader(text, tokens).read()
    if shared:
        read = {(a.family, a.name) for a in attributes}
        attributes += tuple(a for a in _Reader(text, shared).read()
                            if a.family in SHARED_FAMILIES and (a.family, a.name) not in read)
    return Understanding(prompt, attributes + _gender_cue(attributes, tokens))


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        word = match.group().removesuffix("'s")
        tokens.append(_Token(NOUN_FORMS.get(word, word), match.start(), match.end()))
    return tokens


def _first_person(tokens: list[_Token]) -> tuple[list[_Token], list[_Token]]:
    """Cut the prompt before a second person: "a man and a woman" reads "a man"; with the
    words after the last person when they describe everyone ("..., both smiling"), else []."""
    joined, index = _join(tokens)
    matches = list(_PERSON.finditer(joined))
    people = [index[m.start()] for m in matches]
    for later in people[1:]:
        cuts = [i for i in range(people[0] + 1, later) if tokens[i].word in SECOND_PERSON]
        if cuts:
            tail = tokens[people[-1] + matches[-1].group().count(" ") + 1:]
            links = {t.word for t in tokens[people[0] + 1 : people[-1]]} & SECOND_PERSON
            shared = links <= LISTING or any(t.word in EVERYONE for t in tail)
            return tokens[: cuts[-1]], tail if shared else []
    return tokens, []


def _gender_cue(attributes: tuple[Attribute, ...], tokens: list[_Token]
                ) -> tuple[Attribute, ...]:
    """A gender the person words leave unsaid: a man for stated facial hair ("a bearded
    wizard"), else the first pronoun's ("a wizard with her glasses"); its words name the cue,
    as in "man (bearded)"."""
    if any(a.family == "gender" for a in attributes):
        return ()
    beard = next((a for a in attributes if a.family == "facial_hair"
                  and a.name in FACIAL_HAIR_CUES and a.value > 0), None)
    if beard is not None:
        return (Attribute("gender", "man", 1.0, f"man ({beard.words})"),)
    pronoun = next((t.word for t in tokens if t.word in PRONOUNS), None)
    if pronoun is not None:
        gender = PRONOUNS[pronoun]
        return (Attribute("gender", gender, 1.0, f"{gender} ({pronoun})"),)
    return ()


def _join(tokens: list[_Token]) -> tuple[str, dict[int, int]]:
    """The words joined by spaces, and the token index at each word's first character."""
    index, offset = {}, 0
    for i, token in enumerate(tokens):
        index[offset] = i
        offset += len(token.word) + 1
    return " ".join(t.word for t in tokens), index


def _unique(words) -> list[str]:
    return list(dict.fromkeys(words))


class _Reader:
    """One pass over a prompt: phrases of several words first, then feature nouns with their
    adjectives ("thin lips" is about lips, not build), then single words."""

    def __init__(self, text: str, tokens: list[_Token]):
        self.text, self.tokens = text, tokens
        self.joined, self.index = _join(tokens)
        self.claimed = [False] * len(tokens)
        self.taken: list[tuple[int, int, tuple[Sense, ...], tuple[Sense, ...] | None]] = []

    def read(self) -> tuple[Attribute, ...]:
        matches = self._phrase_matches()
        for first, last, senses in sorted(matches, key=lambda m: (m[0] - m[1], m[0])):
            if last > first:
                self._take(first, last, senses)
        self._read_nouns()
        for first, last, senses in sorted(matches):
            if last == first:
                self._take(first, last, senses)
        return self._resolved()

    def _phrase_matches(self) -> list[tuple[int, int, tuple[Sense, ...]]]:
        """(first token, last token, senses) of every lexicon match, overlaps included."""
        found = []
        for pattern, senses in _PHRASES:
            found += [(*self._span(m), senses) for m in pattern.finditer(self.joined)]
        for pattern, unit, offset in _NUMERIC:
            for m in pattern.finditer(self.joined):
                digits = next(g for g in m.groups("") if g.isdigit())
                years = _clamp_age(int(digits) * unit + offset)
                found.append((*self._span(m), (("age", "years", years),)))
        return found

    def _span(self, match: re.Match[str]) -> tuple[int, int]:
        first = self.index[match.start()]
        return first, first + match.group().count(" ")

    def _take(self, first: int, last: int, senses: tuple[Sense, ...],
              negated_senses: tuple[Sense, ...] | None = None) -> None:
        """Claim tokens first..last for `senses` unless some were read already."""
        if not any(self.claimed[first : last + 1]):
            self.claimed[first : last + 1] = [True] * (last + 1 - first)
            self.taken.append((first, last, senses, negated_senses))

    def _attributes(self, first: int, last: int, senses: tuple[Sense, ...],
                    negated_senses: tuple[Sense, ...] | None) -> list[tuple[int, Attribute]]:
        """The attributes of a claimed span, with the intensity and negation of the words
        before it (read once every span is claimed, so that negation stops at them)."""
        factor, start = self._intensity(first)
        negator = self._negator(start)
        if negator is not None:
            start = negator
            if negated_senses is not None:
                senses, factor = negated_senses, 1.0
            else:
                senses = tuple(s for s in senses if s[0] not in NEGATION_DROPS)
                factor = 0.0
        words = " ".join(self.text[self.tokens[start].start : self.tokens[last].end].split())
        return [(start, Attribute(family, name, _scaled(family, value, factor), words))
                for family, name, value in senses]

    def _intensity(self, first: int) -> tuple[float, int]:
        """The product of the intensity words just before token `first`, and where they start."""
        factor = 1.0
        while True:
            two = " ".join(t.word for t in self.tokens[max(first - 2, 0) : first])
            one = self.tokens[first - 1].word if first else ""
            if first >= 2 and two in INTENSITY and not any(self.claimed[first - 2 : first]):
                factor, first = factor * INTENSITY[two], first - 2
            elif one in INTENSITY and not self.claimed[first - 1]:
                factor, first = factor * INTENSITY[one], first - 1
            else:
                return factor, first

    def _negator(self, first: int) -> int | None:
        """The index of a negating word shortly before token `first` in the same clause; an
        attribute read already stops the search unless "or" follows it ("no beard or
        moustache")."""
        for i in range(first - 1, max(first - 1 - _MAX_NEGATION_GAP, -1), -1):
            word = self.tokens[i].word
            pair = " ".join(t.word for t in self.tokens[i : i + 2])
            if word in NEGATORS or pair in NEGATORS:
                return i
            read_already = self.claimed[i] and self.tokens[i + 1].word not in ALTERNATIVES
            if word in CLAUSE_ENDS or read_already:
                return None
        return None

    def _read_nouns(self) -> None:
        for i, token in enumerate(self.tokens):
            if token.word not in NOUNS or self.claimed[i]:
                continue
            bare, negated, adjectives = NOUNS[token.word]
            first = i
            while first and not self.claimed[first - 1] and self._modifies(
                    self.tokens[first - 1].word, adjectives):
                first -= 1
            while self.tokens[first].word in NOUN_JOINERS:
                first += 1
            last = i
            while last + 1 < len(self.tokens) and not self.claimed[last + 1] and (
                    self.tokens[last + 1].word in LINKS | INTENSITY.keys()
                    or self.tokens[last + 1].word in adjectives):
                last += 1
            while last > i and self.tokens[last].word not in adjectives:
                last -= 1
            self._take_noun(first, last, i, bare, negated, adjectives)

    @staticmethod
    def _modifies(word: str, adjectives: dict[str, tuple[Sense, ...]]) -> bool:
        return word in adjectives or word in INTENSITY or word in NOUN_JOINERS

    def _take_noun(self, first: int, last: int, noun: int, bare: tuple[Sense, ...],
                   negated: tuple[Sense, ...] | None,
                   adjectives: dict[str, tuple[Sense, ...]]) -> None:
        """Record a feature noun with its adjectives: each adjective weighed by the intensity
        words right before it, all negated together."""
        senses, factor = list(bare), 1.0
        for token in self.tokens[first : last + 1]:
            if token.word in INTENSITY:
                factor *= INTENSITY[token.word]
            elif token.word in adjectives:
                senses += [(f, n, _scaled(f, v, factor)) for f, n, v in adjectives[token.word]]
                factor = 1.0
        if senses or negated:
            negated_senses = negated if negated else None
            self._take(first, last, tuple(senses), negated_senses)

    def _resolved(self) -> tuple[Attribute, ...]:
        """Attributes in prompt order; a repeated one (or a second name of an exclusive family)
        is dropped: the first statement wins."""
        found = [found for span in self.taken for found in self._attributes(*span)]
        kept: dict[tuple[str, str], Attribute] = {}
        for _, attribute in sorted(found, key=lambda f: f[0]):
            key = (attribute.family, "" if attribute.family in EXCLUSIVE else attribute.name)
            kept.setdefault(key, attribute)
        return tuple(kept.values())


def _scaled(family: str, value: float, factor: float) -> float:
    """`value` made stronger or weaker: ages move 20 years per unit of intensity away from 30
    (a negated age never gets here)."""
    if family == "age":
        direction = 1.0 if value >= 30 else -1.0
        return _clamp_age(value + direction * 20.0 * (factor - 1.0))
    return value * factor


def _clamp_age(years: float) -> float:
    return min(max(float(years), AGE_RANGE[0]), AGE_RANGE[1])

"""A deterministic synthetic track catalogue for the demo.

Titles and artists are made up from word lists; audio features follow per-genre profiles so
that routing a prompt like "chill lo-fi for studying" to tracks gives believable results
(ambient and classical are quiet and acoustic, EDM and house sit near 124-130 BPM, hip hop is
wordy and more often explicit). Each artist has a home genre, a career start year, a
popularity and small offsets from the genre profile, so an artist's tracks resemble each other.

Only NumPy and the standard library are used; the same ``seed`` always gives the same list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CATALOGUE_FIELDS: tuple[str, ...] = (
    "track_id", "title", "artist", "genre", "year", "energy", "valence", "danceability",
    "acousticness", "instrumentalness", "speechiness", "tempo", "loudness", "duration_ms",
    "explicit", "popularity",
)

_FEATURES = (
    "energy", "valence", "danceability", "acousticness", "instrumentalness", "speechiness",
)

# genre: (energy, valence, danceability, acousticness, instrumentalness, speechiness,
#         tempo mean, tempo sd, loudness dB, duration s, explicit rate, first year, weight)
_PROFILES: dict[str, tuple[float, ...]] = {
    "pop": (.68, .60, .68, .20, .03, .07, 118, 18, -6.0, 205, .12, 1960, 10),
    "rock": (.72, .50, .50, .15, .08, .05, 125, 22, -7.0, 235, .08, 1960, 8),
    "hip hop": (.66, .52, .78, .15, .02, .28, 95, 14, -6.5, 210, .50, 1979, 9),
    "r&b": (.55, .50, .68, .25, .03, .10, 100, 16, -7.0, 220, .22, 1960, 6),
    "edm": (.86, .52, .72, .04, .45, .06, 128, 2.5, -4.5, 215, .05, 1995, 5),
    "house": (.80, .60, .80, .05, .55, .05, 124, 1.5, -6.0, 330, .03, 1985, 4),
    "techno": (.84, .30, .70, .03, .80, .05, 132, 4, -7.0, 380, .01, 1988, 3),
    "latin": (.74, .72, .76, .25, .03, .07, 110, 18, -6.0, 215, .08, 1960, 4),
    "reggaeton": (.76, .65, .82, .12, .01, .12, 95, 4, -5.0, 205, .35, 1995, 4),
    "afrobeats": (.70, .72, .80, .18, .03, .09, 108, 7, -6.0, 200, .08, 2008, 3),
    "jazz": (.38, .50, .55, .72, .55, .05, 115, 28, -12.0, 320, .01, 1960, 5),
    "classical": (.15, .30, .25, .93, .90, .04, 95, 28, -20.0, 420, .00, 1960, 5),
    "lo-fi": (.30, .45, .65, .65, .88, .05, 80, 5, -13.0, 150, .00, 2012, 4),
    "indie": (.58, .45, .55, .35, .15, .05, 118, 20, -8.0, 230, .06, 1985, 7),
    "metal": (.92, .28, .40, .02, .12, .09, 138, 24, -4.5, 280, .15, 1970, 5),
    "country": (.62, .60, .58, .40, .02, .04, 115, 20, -7.0, 210, .03, 1960, 5),
    "folk": (.35, .45, .48, .80, .10, .04, 110, 22, -11.0, 230, .01, 1960, 4),
    "soul": (.52, .60, .62, .40, .03, .06, 105, 18, -9.0, 210, .02, 1960, 3),
    "funk": (.70, .75, .78, .20, .10, .07, 108, 9, -8.0, 250, .03, 1965, 3),
    "ambient": (.15, .20, .25, .85, .92, .04, 80, 18, -22.0, 360, .00, 1975, 3),
    "k-pop": (.78, .65, .72, .10, .01, .08, 122, 14, -4.5, 200, .03, 1996, 4),
    "blues": (.45, .42, .50, .60, .08, .05, 100, 20, -10.0, 250, .02, 1960, 2),
    "punk": (.90, .50, .45, .03, .03, .07, 165, 18, -5.0, 150, .20, 1974, 3),
    "reggae": (.55, .70, .75, .25, .05, .10, 80, 7, -8.0, 230, .05, 1966, 2),
}

GENRES: tuple[str, ...] = tuple(_PROFILES)
"""The catalogue's genres: the intent task's ``genre`` slot vocabulary, in the same order."""

_TEMPO_RANGE = {"lo-fi": (70.0, 90.0), "edm": (124.0, 130.0), "house": (120.0, 128.0)}
_FIRST_YEAR, _LAST_YEAR = 1960, 2025
_CONCENTRATION = 12.0  # Beta concentration: higher means tracks sit closer to the genre mean

_ADJ = (
    "Neon Velvet Golden Silver Electric Paper Hollow Crimson Quiet Wild Midnight Lunar Amber "
    "Glass Faded Broken Burning Distant Silent Restless Lucky Cosmic Wooden Sunken Bright "
    "Lonely Copper Iron Secret Violet Scarlet Frozen Gentle Hidden Endless Northern Southern "
    "Summer Winter Autumn Easy Sweet Heavy Tiny Honey Dusty Little Blue Cold Warm Slow Final "
    "Open Perfect Static Marble Plastic Emerald Rusty Hazy Soft Loud Holy Wandering"
).split()
_NOUN = (
    "Harbor Coast Garden River Signal Echo Mirror Lantern Canyon Orchard Engine Parade "
    "Satellite Avenue Highway Meadow Ocean Valley Window Horizon Island Thunder Ember Feather "
    "Shadow Compass Anchor Circus Cathedral Motel Radio Forest Comet Desert Fever Mountain "
    "Heart Diamond Kingdom Tide Wave Skyline Ghost Planet Machine Rose Stone Fire Rain Dream "
    "Letter Photograph Balcony Bridge Arcade Atlas Cassette Static Daylight Moon Sparrow "
    "Station Telephone Tangerine Lighthouse Carousel Postcard Wildfire Velvet Honey"
).split()
_PLURAL = (
    "Wolves Lanterns Satellites Strangers Daydreams Shadows Pilots Saints Thieves Comets "
    "Sparrows Ravens Tigers Ghosts Rivers Kings Queens Echoes Machines Mirrors Poets Sailors "
    "Twins Hearts Drifters Foxes Rebels Astronauts Lovers Owls Magpies Runaways Ramblers"
).split()
_GOING = "Dancing Falling Running Waiting Burning Drifting Dreaming Floating Driving Fading".split()
_DOING = "Chasing Holding Calling Losing Finding Breaking Counting Leaving Crossing Keeping".split()
_TAIL = (
    "Alone Tonight Forever Again Slowly Home Away Sideways Upstairs Together Anyway"
).split()
_FIRST = (
    "Maya Leo Nora Jonah Iris Theo Ruby Felix Clara Milo Hazel Silas Ada Jude Eliza Oscar "
    "Vera Arlo June Rowan Mabel Otis Lena Caleb Stella Emmett Ivy Reid Cora Wes Greta Hugo "
    "Tessa Ezra Lila Finn Della Cass Rhea Abel Noel Sadie"
).split()
_LAST = (
    "Holt Marlowe Vance Sterling Hart Calloway Rourke Linden Frost Ashby Wilder Quinn "
    "Mercer Hale Bishop Lark Sutton Greer Avery Blake Crane Ellison Fenwick Hollis Keats "
    "Lowell Maddox Pryor Redd Shaw Thorne Weller York Delacroix Okafor Lindqvist Moreau"
).split()
_FIRST_ES = (
    "Lucía Mateo Valentina Diego Camila Santiago Rafa Sofía Alejandro Marisol Julián Paloma "
    "Nico Ximena Tomás Inés"
).split()
_LAST_ES = "Rivera Morales Castillo Vega Duarte Salazar Fuentes Navarro Ibarra Ocampo".split()
_ES = (
    "Luna Noche Fuego Verano Mar Corazón Cielo Ciudad Sol Calle Lluvia Estrellas Madrugada"
).split()
_FIRST_AF = "Tunde Ama Kofi Zainab Chidi Ayo Efe Temi Kwame Nneka Dami Sena Folake".split()
_FORMS = (
    "Sonata Nocturne Étude Prelude Concerto Serenade Fugue Symphony Rhapsody Suite "
    "Quartet Impromptu Ballade Fantasia"
).split()
_KEYS = [f"{note} {mode}" for note in "C D E F G A B".split() for mode in ("major", "minor")]


@dataclass(frozen=True)
class _Artist:
    name: str
    genre: str
    start_year: int
    popularity: float
    explicit_rate: float
    offsets: np.ndarray  # shift of each of _FEATURES from the genre mean
    tempo_shift: float


def generate_demo_catalogue(n: int = 3200, *, seed: int = 7) -> list[dict]:
    """Generate ``n`` synthetic tracks, each a dict with the keys in ``CATALOGUE_FIELDS``.

    Parameters
    ----------
    n
        Number of tracks. Artists get 3-10 tracks each (fewer only when ``n < 3``).
    seed
        Seed for ``numpy.random.default_rng``; the same seed gives the same catalogue.

    Returns
    -------
    list of dict
        Tracks with ids ``demo-00001`` onwards. Every genre in ``GENRES`` is present when
        ``n`` is large enough, and no two tracks share the same (title, artist).
    """
    if n < 0:
        raise ValueError(f"n must be zero or more, got {n}")
    rng = np.random.default_rng(seed)
    weights = np.array([profile[12] for profile in _PROFILES.values()], dtype=float)
    weights /= weights.sum()
    tracks: list[dict] = []
    artist_names: set[str] = set()
    for index, count in enumerate(_track_counts(rng, n)):
        # The first artists cycle through every genre so that each one is represented.
        genre = GENRES[index] if index < len(GENRES) else GENRES[rng.choice(len(GENRES), p=weights)]
        artist = _new_artist(rng, genre, taken=artist_names)
        tracks.extend(_artist_tracks(rng, artist, count=count, first_id=len(tracks) + 1))
    return tracks


def _track_counts(rng: np.random.Generator, n: int) -> list[int]:
    counts: list[int] = []
    while sum(counts) < n:
        counts.append(int(rng.integers(3, 11)))
    excess = sum(counts) - n
    for i in reversed(range(len(counts))):
        take = min(excess, counts[i] - 3)
        counts[i] -= take
        excess -= take
    if excess:  # only when n < 3: a single short artist
        return [n]
    return counts


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _new_artist(rng: np.random.Generator, genre: str, *, taken: set[str]) -> _Artist:
    name = _artist_name(rng, genre)
    for _ in range(20):
        if name not in taken:
            break
        name = _artist_name(rng, genre)
    else:
        name = f"{name} {len(taken) + 1}"
    taken.add(name)
    profile = _PROFILES[genre]
    first_year = max(_FIRST_YEAR, int(profile[11]))
    start = _LAST_YEAR - round(float(rng.beta(1.0, 1.7)) * (_LAST_YEAR - first_year))
    return _Artist(
        name=name,
        genre=genre,
        start_year=start,
        popularity=float(rng.beta(2.0, 3.0)) * 100,
        explicit_rate=min(0.95, profile[10] * float(rng.uniform(0.3, 1.7))),
        offsets=rng.normal(0.0, 0.06, size=len(_FEATURES)),
        tempo_shift=float(rng.normal(0.0, 0.5)),
    )


def _artist_name(rng: np.random.Generator, genre: str) -> str:
    first, last = _pick(rng, _FIRST), _pick(rng, _LAST)
    adj, noun, plural = _pick(rng, _ADJ), _pick(rng, _NOUN), _pick(rng, _PLURAL)
    style = int(rng.integers(4))
    by_genre = {
        "hip hop": [f"Lil {noun}", f"MC {last}", f"Young {adj}", f"{first} {last}"],
        "edm": [f"DJ {first}", f"{adj}{noun.lower()}", f"{noun} Theory", f"{last} & {first}"],
        "jazz": [f"The {last} Quartet", f"{first} {last} Trio", f"{first} {last}", f"{adj} Bop"],
        "classical": [
            f"{last} Ensemble", f"{adj} Chamber Orchestra", f"{first} {last}", f"{last} Strings"
        ],
        "ambient": [f"{noun} Fields", f"{adj} {noun} Project", f"{adj.lower()} {noun.lower()}",
                    f"{first} {last}"],
        "latin": [f"{_pick(rng, _FIRST_ES)} {_pick(rng, _LAST_ES)}", f"Los {plural}",
                  f"{_pick(rng, _FIRST_ES)}", f"DJ {_pick(rng, _FIRST_ES)}"],
        "k-pop": [noun.upper(), f"{adj.upper()}{int(rng.integers(2, 10))}",
                  f"{noun.upper()}-X", f"{adj} {noun}s"],
        "afrobeats": [_pick(rng, _FIRST_AF), f"{_pick(rng, _FIRST_AF)} {noun}",
                      f"{_pick(rng, _FIRST_AF)} the {noun}", f"{adj} {_pick(rng, _FIRST_AF)}"],
    }
    by_genre["house"] = by_genre["techno"] = by_genre["edm"]
    by_genre["lo-fi"] = [f"{adj.lower()} {noun.lower()}", f"{first.lower()} beats",
                         f"{noun.lower()}tape", f"{adj.lower()}.{noun.lower()}"]
    by_genre["reggaeton"] = by_genre["latin"]
    default = [f"The {adj} {plural}", f"{adj} {noun}", f"{first} {last}",
               f"{first} & the {plural}"]
    return by_genre.get(genre, default)[style]


def _title(rng: np.random.Generator, genre: str) -> str:
    adj, noun = _pick(rng, _ADJ), _pick(rng, _NOUN)
    if genre == "classical":
        form = _pick(rng, _FORMS)
        return f"{form} No. {int(rng.integers(1, 25))} in {_pick(rng, _KEYS)}"
    if genre in ("latin", "reggaeton") and rng.random() < 0.6:
        return f"{_pick(rng, _ES)} de {_pick(rng, _ES)}"
    options = [
        f"{adj} {noun}",
        f"{_pick(rng, _GOING)} {_pick(rng, _TAIL)}",
        f"{noun} of the {_pick(rng, [word for word in _NOUN if word != noun])}",
        f"{_pick(rng, _DOING)} the {noun}",
        noun,
        f"Back to the {noun}",
    ]
    title = _pick(rng, options)
    return title.lower() if genre in ("lo-fi", "ambient") else title


def _artist_tracks(
    rng: np.random.Generator, artist: _Artist, *, count: int, first_id: int
) -> list[dict]:
    profile = _PROFILES[artist.genre]
    means = np.clip(np.array(profile[:6]) + artist.offsets, 0.02, 0.98)
    features = rng.beta(means * _CONCENTRATION, (1 - means) * _CONCENTRATION,
                        size=(count, len(_FEATURES)))
    titles: set[str] = set()
    tracks = []
    for i in range(count):
        values = dict(zip(_FEATURES, (round(float(v), 3) for v in features[i]), strict=True))
        title = _title(rng, artist.genre)
        while title in titles:
            title = f"{title} (Reprise)" if rng.random() < 0.5 else _title(rng, artist.genre)
        titles.add(title)
        year = artist.start_year + int(rng.integers(0, min(12, _LAST_YEAR - artist.start_year + 1)))
        tracks.append({
            "track_id": f"demo-{first_id + i:05d}",
            "title": title,
            "artist": artist.name,
            "genre": artist.genre,
            "year": year,
            **values,
            "tempo": _tempo(rng, artist),
            "loudness": _loudness(rng, profile, energy=values["energy"]),
            "duration_ms": int(np.clip(rng.normal(profile[9], profile[9] * 0.2), 60, 900) * 1000),
            "explicit": bool(
                rng.random() < artist.explicit_rate * (1.0 - values["instrumentalness"])
            ),
            "popularity": _popularity(rng, artist, year=year),
        })
    return tracks


def _tempo(rng: np.random.Generator, artist: _Artist) -> float:
    mean, sd = _PROFILES[artist.genre][6:8]
    low, high = _TEMPO_RANGE.get(artist.genre, (55.0, 200.0))
    return round(float(np.clip(rng.normal(mean + artist.tempo_shift * sd, sd), low, high)), 1)


def _loudness(rng: np.random.Generator, profile: tuple[float, ...], *, energy: float) -> float:
    value = profile[8] + 10.0 * (energy - profile[0]) + rng.normal(0.0, 1.5)
    return round(float(np.clip(value, -30.0, -2.0)), 1)


def _popularity(rng: np.random.Generator, artist: _Artist, *, year: int) -> int:
    recency = 8.0 * (year - 2015) / 10 if year > 2015 else 0.0
    return int(np.clip(round(artist.popularity + recency + rng.normal(0.0, 10.0)), 0, 100))

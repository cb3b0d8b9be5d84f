"""What slot values mean on a track's audio features, for the ranker: the profiles (calm -> low
energy; running -> high energy and tempo), genre aliases, eras, tempo ranges and the time-of-day
terms. Data only; features are compared as percentiles within a catalogue (``ranker``)."""

from __future__ import annotations

FEATURES = ("energy", "valence", "danceability", "acousticness", "instrumentalness",
            "speechiness", "tempo", "loudness")
"""Audio features compared by percentile within the catalogue."""
RANKED_FIELDS = (*FEATURES, "year", "popularity", "duration_ms")
"""What a profile term may name: the audio features, the release year (nostalgic -> the
catalogue's older tracks), popularity ("deep cuts") and track length ("short songs"); these
three are not audio features, so track similarity leaves them out."""

LOW, HIGH, MID = "low", "high", "mid"
Term = tuple[str, str, float]
"""(feature, direction, weight): ``low`` wants the feature's low percentiles, ``high`` its high
ones, ``mid`` the middle."""

PROFILES: dict[str, dict[str, tuple[Term, ...]]] = {
    "mood": {
        "calm": (("energy", LOW, 1.0), ("acousticness", HIGH, 0.5), ("loudness", LOW, 0.5)),
        "chill": (("energy", LOW, 0.7), ("tempo", LOW, 0.3), ("loudness", LOW, 0.3)),
        "happy": (("valence", HIGH, 1.0), ("energy", HIGH, 0.3)),
        "sad": (("valence", LOW, 1.0), ("energy", LOW, 0.5)),
        "energetic": (("energy", HIGH, 1.0), ("tempo", HIGH, 0.3), ("loudness", HIGH, 0.3)),
        "angry": (("energy", HIGH, 1.0), ("valence", LOW, 1.0), ("loudness", HIGH, 0.5)),
        "romantic": (("energy", LOW, 0.5), ("acousticness", HIGH, 0.3),
                     ("valence", MID, 0.3)),
        "melancholic": (("valence", LOW, 1.0), ("energy", LOW, 0.5)),
        "hopeful": (("valence", HIGH, 0.7), ("energy", MID, 0.3)),
        "confident": (("energy", HIGH, 0.5), ("danceability", HIGH, 0.5)),
        "dreamy": (("energy", LOW, 0.6), ("instrumentalness", HIGH, 0.3),
                   ("acousticness", HIGH, 0.3)),
        "dark": (("valence", LOW, 1.0), ("energy", MID, 0.2)),
        "lonely": (("valence", LOW, 0.8), ("energy", LOW, 0.5)),
        "euphoric": (("valence", HIGH, 0.7), ("energy", HIGH, 0.7),
                     ("danceability", HIGH, 0.5)),
        "anxious": (("energy", LOW, 0.8), ("tempo", LOW, 0.3)),
        "cozy": (("acousticness", HIGH, 0.7), ("energy", LOW, 0.5)),
        "nostalgic": (("year", LOW, 1.0),),
    },
    "activity": {
        **{focus: (("instrumentalness", HIGH, 1.0), ("speechiness", LOW, 1.0),
                   ("energy", LOW, 0.4), ("loudness", LOW, 0.2))
           for focus in ("studying", "coding", "reading", "writing", "working")},
        **{sport: (("energy", HIGH, 1.0), ("tempo", HIGH, 0.6), ("danceability", HIGH, 0.2))
           for sport in ("working_out", "running", "lifting", "cycling", "hiit")},
        **{rest: (("energy", LOW, 1.0), ("loudness", LOW, 0.6), ("tempo", LOW, 0.5),
                  ("acousticness", HIGH, 0.5), ("speechiness", LOW, 0.3))
           for rest in ("sleeping", "meditating", "yoga")},
        "dancing": (("danceability", HIGH, 1.0), ("energy", HIGH, 0.5)),
        "getting_ready": (("danceability", HIGH, 0.7), ("valence", HIGH, 0.5)),
        "cooking": (("valence", HIGH, 0.5), ("energy", MID, 0.3)),
        "cleaning": (("energy", HIGH, 0.5), ("valence", HIGH, 0.5)),
        "driving": (("energy", HIGH, 0.3), ("valence", HIGH, 0.3)),
        "commuting": (("valence", HIGH, 0.3), ("energy", MID, 0.3)),
        "road_trip": (("valence", HIGH, 0.5), ("energy", HIGH, 0.3)),
        "flying": (("energy", LOW, 0.5), ("loudness", LOW, 0.3)),
        "gaming": (("energy", HIGH, 0.6), ("speechiness", LOW, 0.3)),
        "dinner": (("energy", LOW, 0.4), ("acousticness", HIGH, 0.4)),
        "hiking": (("valence", HIGH, 0.3), ("energy", MID, 0.3)),
        "walking": (("valence", HIGH, 0.3), ("energy", MID, 0.3)),
        "gardening": (("acousticness", HIGH, 0.4), ("valence", HIGH, 0.3)),
        "painting": (("instrumentalness", HIGH, 0.4), ("energy", LOW, 0.3)),
        "showering": (("valence", HIGH, 0.5), ("danceability", HIGH, 0.3)),
        "waking_up": (("valence", HIGH, 0.6), ("energy", MID, 0.3)),
    },
    "tempo": {"slow": (("tempo", LOW, 1.0),), "medium": (("tempo", MID, 1.0),),
              "fast": (("tempo", HIGH, 1.0),)},
    "energy": {"low": (("energy", LOW, 1.0), ("loudness", LOW, 0.3)),
               "medium": (("energy", MID, 1.0),),
               "high": (("energy", HIGH, 1.0), ("loudness", HIGH, 0.3))},
    # genres with a sound of their own: the sound counts too, so a catalogue that does not
    # label them ("heavy metal" in a catalogue without a metal genre) still answers in kind
    "genre": {"metal": (("energy", HIGH, 1.0), ("loudness", HIGH, 0.6), ("valence", LOW, 0.3)),
              "punk": (("energy", HIGH, 1.0), ("tempo", HIGH, 0.4)),
              "ambient": (("energy", LOW, 1.0), ("instrumentalness", HIGH, 0.7)),
              "classical": (("acousticness", HIGH, 1.0), ("instrumentalness", HIGH, 0.7),
                            ("speechiness", LOW, 0.3)),
              "lo-fi": (("energy", LOW, 0.7), ("instrumentalness", HIGH, 0.4)),
              "jazz": (("acousticness", HIGH, 0.5), ("instrumentalness", HIGH, 0.3))},
    "popularity": {"high": (("popularity", HIGH, 1.0),), "low": (("popularity", LOW, 1.0),)},
    "length": {"short": (("duration_ms", LOW, 1.0),), "long": (("duration_ms", HIGH, 1.0),)},
    "occasion": {"party": (("danceability", HIGH, 1.0), ("energy", HIGH, 0.6),
                           ("valence", HIGH, 0.3))},
    "danceability": {"low": (("danceability", LOW, 1.0), ("energy", LOW, 0.3))},
    "speech": {"spoken": (("speechiness", HIGH, 1.0), ("instrumentalness", LOW, 0.3))},
    "acoustic": {"more": (("acousticness", HIGH, 1.0),), "less": (("acousticness", LOW, 1.0),)},
    "vocals": {"instrumental": (("instrumentalness", HIGH, 1.0), ("speechiness", LOW, 0.5)),
               "vocals": (("instrumentalness", LOW, 1.0),)},
}

GENRE_ALIASES: dict[str, tuple[str, ...]] = {
    "hip hop": ("hip hop", "hip-hop", "hiphop", "rap", "trap", "gangster rap"),
    "r&b": ("r&b", "rnb", "r and b", "neo soul", "new jack swing", "urban contemporary"),
    "edm": ("edm", "electronic", "electro", "big room", "dubstep", "electropop"),
    "lo-fi": ("lo-fi", "lofi", "lo fi", "chillhop"),
    "k-pop": ("k-pop", "kpop", "k pop"),
    "indie": ("indie", "alternative"),
    "latin": ("latin", "tropical", "salsa", "bachata"),
    "funk": ("funk", "disco"),
    "punk": ("punk", "emo"),
    "metal": ("metal", "metalcore", "hard rock"),
    "classical": ("classical", "orchestral"),
}
"""Words a track's genre or tags may use for a genre slot value (others match themselves)."""

ERAS: dict[str, tuple[int, int]] = {
    "60s": (1960, 1969), "70s": (1970, 1979), "80s": (1980, 1989), "90s": (1990, 1999),
    "2000s": (2000, 2009), "2010s": (2010, 2019),
}
TEMPO_FILTERS: dict[str, tuple[float, float]] = {"slow": (0.0, 95.0), "fast": (130.0, 1e9)}
"""BPM ranges that ``tempo=slow`` and ``tempo=fast`` keep where enough tracks pass."""
BPM_TOLERANCE = 0.08
"""``bpm=180`` keeps tracks within 8% of 180 BPM where enough pass."""
RECENT_YEARS = 2
"""``era=recent``: released in the catalogue's newest ``RECENT_YEARS`` + 1 years."""

TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
CONTEXT_TERMS: dict[str, tuple[Term, ...]] = {
    "morning": (("valence", HIGH, 0.3), ("energy", MID, 0.2)),
    "afternoon": (),
    "evening": (("energy", LOW, 0.15),),
    "night": (("energy", LOW, 0.3), ("loudness", LOW, 0.2)),
}

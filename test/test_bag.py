"""avs bag: typestore definitions, writing SynthAVS-stream and AVSBench bags in MCAP and
sqlite3, reading them back with rosbags and with the independent mcap reader, and the
reader's errors for bags it cannot use."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from rosbags.typesys import get_types_from_msg

from avs_ros.bag import messages
from avs_ros.bag.msgdefs import AUDIO_FLAVOURS, AVS_ROS
from avs_ros.bag.reader import AudioEvent, BagError, BagReader, ClipEvent, GroundTruthEvent, \
    ImageEvent
from avs_ros.bag.sources import Audio, Frame, avsbench, synth_stream
from avs_ros.bag.types import IMAGE, typestore
from avs_ros.bag.writer import BagWriter, write_bag
from avs_ros.core.audio_buffer import decode_samples

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "test" / "fixtures" / "ros"
START = 1_700_000_000 * 10**9
FPS, DURATION, SIZE = 8.0, 1.5, (64, 64)


def _fields(text: str, name: str):
    return get_types_from_msg(text, name)[name]


@pytest.mark.parametrize("name", sorted(AVS_ROS))
def test_avs_ros_definitions_match_msg_files(name):
    source = (ROOT / "msg" / (name.rsplit("/", 1)[1] + ".msg")).read_text()
    assert _fields(AVS_ROS[name], name) == _fields(source, name)


@pytest.mark.parametrize("flavour,folder", [("audio_data_stamped", "audio_common_msgs_ros_drivers"),
                                            ("audio_stamped", "audio_common_msgs_mgonzs13")])
def test_audio_definitions_match_fixtures(flavour, folder):
    files = sorted((FIXTURES / folder / "msg").glob("*.msg"))
    assert sorted(AUDIO_FLAVOURS[flavour]) == sorted(
        f"audio_common_msgs/msg/{p.stem}" for p in files)
    for p in files:
        name = f"audio_common_msgs/msg/{p.stem}"
        assert _fields(AUDIO_FLAVOURS[flavour][name], name) == _fields(p.read_text(), name)


def _source():
    return list(synth_stream(DURATION, FPS, seed=3, size=SIZE, start_ns=START))


@pytest.fixture(scope="module")
def source():
    return _source()


def _bag_file(path: Path) -> Path:
    return next(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_synth_stream_round_trip(tmp_path, source, storage):
    out = tmp_path / "bag"
    summary = write_bag(iter(source), out, storage=storage, chunk_ms=(20, 100), seed=1)
    frames = [x for x in source if isinstance(x, Frame)]
    track = np.concatenate([x.samples for x in source if isinstance(x, Audio)])
    assert summary.frames == len(frames) == int(DURATION * FPS)
    with BagReader(out) as reader:
        assert (reader.layout.image_topic, reader.layout.audio_topic,
                reader.layout.audio_info_topic, reader.layout.gt_topic) == (
            "/camera/image_raw", "/audio/audio_stamped", "/audio/audio_info", "/avs/gt_mask")
        events = list(reader.events())
    images = [e for e in events if isinstance(e, ImageEvent)]
    gts = [e for e in events if isinstance(e, GroundTruthEvent)]
    audio = [e for e in events if isinstance(e, AudioEvent)]
    assert [e.stamp_ns for e in images] == [f.stamp_ns for f in frames]
    for e, f in zip(images, frames):
        np.testing.assert_array_equal(e.rgb, f.image)
    for e, f in zip(gts, frames):
        np.testing.assert_array_equal(e.mask, f.gt)
    clips = [i for i, e in enumerate(events) if isinstance(e, ClipEvent)]
    assert len(clips) == 1 and clips[0] < events.index(images[0])
    # audio: 20-100 ms messages (the last may be shorter), contiguous stamps, exact PCM
    logs = [e.log_ns for e in events]
    assert logs == sorted(logs)
    sizes = [np.asarray(e.samples).size // 2 for e in audio]
    assert all(320 <= n <= 1600 for n in sizes[:-1]) and 0 < sizes[-1] <= 1600
    assert len(set(sizes)) > 1
    starts = np.cumsum([0] + sizes[:-1])
    np.testing.assert_array_equal([e.stamp_ns - START for e in audio],
                                  (starts * 10**9 + 8000) // 16000)
    assert all(e.log_ns > e.stamp_ns for e in audio)
    pcm = np.concatenate([decode_samples(e.samples, 1, e.fmt) for e in audio])
    np.testing.assert_allclose(pcm, messages.pcm16(track) / 32768.0, atol=0)


def test_mcap_bag_decodes_with_the_independent_mcap_reader(tmp_path, source):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    out = tmp_path / "bag"
    write_bag(iter(source), out, storage="mcap")
    seen = {}
    with open(_bag_file(out), "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, _, msg in reader.iter_decoded_messages():
            assert schema.encoding == "ros2msg" and schema.data
            seen.setdefault(channel.topic, msg)
    assert set(seen) == {"/camera/image_raw", "/avs/gt_mask", "/audio/audio_stamped",
                         "/audio/audio_info", "/avs/clip"}
    assert seen["/audio/audio_info"].sample_format == "S16LE"
    assert seen["/camera/image_raw"].encoding == "rgb8"
    assert seen["/camera/image_raw"].width == SIZE[1]


def test_sqlite3_bag_stores_every_definition(tmp_path, source):
    out = tmp_path / "bag"
    write_bag(iter(source), out, storage="sqlite3")
    con = sqlite3.connect(_bag_file(out))
    defs = dict(con.execute("select topic_type, encoded_message_definition "
                            "from message_definitions"))
    types = {t for (t,) in con.execute("select type from topics")}
    con.close()
    assert types <= set(defs)
    image = get_types_from_msg(defs[IMAGE].split("\n===")[0], IMAGE)[IMAGE]
    assert [f[0] for f in image[1]] == ["header", "height", "width", "encoding",
                                             "is_bigendian", "step", "data"]


def test_mgonzs13_flavour_and_compressed_images(tmp_path, source):
    out = tmp_path / "bag"
    write_bag(iter(source), out, storage="sqlite3", audio_type="audio_stamped", compressed=True)
    with BagReader(out, audio_type="audio_stamped") as reader:
        assert reader.layout.audio_topic == "/audio"
        assert reader.layout.image_topic == "/camera/image_raw/compressed"
        events = list(reader.events())
    frames = [x for x in source if isinstance(x, Frame)]
    images = [e for e in events if isinstance(e, ImageEvent)]
    assert len(images) == len(frames)
    assert np.abs(images[3].rgb.astype(int) - frames[3].image).mean() < 8   # JPEG q90
    audio = [e for e in events if isinstance(e, AudioEvent)]
    assert audio[0].fmt == "S16LE" and audio[0].sample_rate == 16000     # paInt16
    with pytest.raises(BagError, match="not the audio_common_msgs/msg/AudioDataStamped"):
        BagReader(out, audio_type="audio_data_stamped")


def test_avsbench_source_on_a_synthavs_split(tmp_path):
    from avs_models.data.avsbench import S4Dataset
    from avs_models.data.synth import generate

    root = generate("s4", tmp_path / "data", 3, seed=2, workers=1)
    ds = S4Dataset(root, "test", audio="wav")
    items = list(avsbench(root, "s4", "test", start_ns=START))
    frames = [x for x in items if isinstance(x, Frame)]
    # frame k ends the audio AVSBench trains it with (VGGish example k: 0.96 k + 0.975 s)
    assert [f.stamp_ns - START for f in frames] == [(15360 * k + 15600) * 62500 for k in range(5)]
    assert {f.clip for f in frames} == {ds.clips[0].name}
    for k, f in enumerate(frames):
        np.testing.assert_array_equal(f.gt, ds[k]["mask"][0].numpy().astype(np.uint8))
    audio = [x for x in items if isinstance(x, Audio)]
    assert len(audio) == 1 and audio[0].samples.size == 5 * 16000
    out = tmp_path / "bag"
    summary = write_bag(iter(items), out)
    assert summary.counts["/avs/gt_mask"] == 5 and summary.counts["/avs/clip"] == 1
    assert summary.audio_s == pytest.approx(5.0)


def test_marker_array_round_trip():
    from avs_ros.core.markers import object_markers
    from avs_ros.core.postprocess import SoundingObject, make_palette

    store = typestore()
    obj = SoundingObject(1, "sounding", 0.75, 10, 20, 5, 4, 12.0, 21.5, 18)
    specs = object_markers([obj], make_palette(), 0.01)
    msg = messages.marker_array(store, START + 5, "camera", specs)
    back = store.deserialize_cdr(store.serialize_cdr(msg, "visualization_msgs/msg/MarkerArray"),
                                 "visualization_msgs/msg/MarkerArray")
    first, box, label = back.markers
    assert first.action == messages.DELETEALL and first.header.stamp.nanosec == 5
    assert (box.type, box.ns, len(box.points)) == (messages.LINE_STRIP, "box", 5)
    assert (box.points[0].x, box.points[0].y) == pytest.approx((0.095, 0.195))
    assert (box.points[2].x, box.points[2].y) == pytest.approx((0.145, 0.235))
    assert (box.color.r, box.color.g, box.color.b, box.color.a) == (1.0, 0.0, 0.0, 1.0)
    assert box.pose.orientation.w == 1.0 and box.scale.x == pytest.approx(0.02)
    assert (label.type, label.text) == (messages.TEXT_VIEW_FACING, "sounding 0.75")
    assert label.header.frame_id == "camera"


# ---- bad input ------------------------------------------------------------------------------
def _bag_with(tmp_path, topics: dict[str, str], extra_types: dict[str, str] | None = None):
    """A bag with one message per topic (topic -> type); images 8x8 rgb8."""
    store = typestore()
    if extra_types:
        for name, text in extra_types.items():
            store.register(get_types_from_msg(text, name))
    out = tmp_path / "bad"
    with BagWriter(out, store) as bag:
        for i, (topic, msgtype) in enumerate(topics.items()):
            if msgtype == IMAGE:
                msg = messages.rgb_image(store, START, "camera", np.zeros((8, 8, 3), np.uint8))
            elif msgtype == "audio_common_msgs/msg/AudioDataStamped":
                msg = messages.audio_stamped(store, "audio_data_stamped", START, "mic",
                                             np.zeros(320, np.float32))
            else:
                msg = store.types[msgtype](data=np.zeros(4, np.uint8))
            bag.write(topic, msgtype, START + i, msg)
    return out


def test_missing_image_topic(tmp_path):
    out = _bag_with(tmp_path, {"/audio/audio_stamped": "audio_common_msgs/msg/AudioDataStamped"})
    with pytest.raises(BagError, match=r"has no camera image topic: expected a "
                                       r"sensor_msgs/msg/Image or .*/audio/audio_stamped"):
        BagReader(out)
    with pytest.raises(BagError, match=r"no topic /cam \(the image topic asked for\)"):
        BagReader(out, image_topic="/cam")


def test_missing_audio_topic_and_unknown_audio_type(tmp_path):
    custom = {"my_msgs/msg/PcmChunk": "uint8[] data\n"}
    out = _bag_with(tmp_path, {"/camera/image_raw": IMAGE, "/mic/pcm": "my_msgs/msg/PcmChunk"},
                    custom)
    with pytest.raises(BagError) as err:
        BagReader(out)
    text = str(err.value)
    assert "has no audio topic: expected audio_common_msgs/msg/AudioDataStamped" in text
    assert "/mic/pcm [my_msgs/msg/PcmChunk]" in text and str(out) in text
    with pytest.raises(BagError, match=r"unknown audio type my_msgs/msg/PcmChunk on topic "
                                       r"/mic/pcm .*expected audio_common_msgs/msg/"
                                       r"AudioDataStamped \(ros-drivers\) or .*AudioStamped"):
        BagReader(out, audio_topic="/mic/pcm")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_file(tmp_path, source, storage):
    out = tmp_path / "bag"
    write_bag(iter(source), out, storage=storage)
    f = _bag_file(out)
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(BagError) as err:
        with BagReader(out) as reader:
            for _ in reader.events():
                pass
    assert str(out) in str(err.value)
    assert "truncated" in str(err.value)


def test_not_a_bag(tmp_path):
    with pytest.raises(BagError, match="does not exist"):
        BagReader(tmp_path / "nothing")
    (tmp_path / "dir").mkdir()
    with pytest.raises(BagError, match="metadata.yaml is missing"):
        BagReader(tmp_path / "dir")


def test_bag_command(tmp_path, capsys):
    from avs_ros import cli

    out = tmp_path / "cmd"
    code = cli.main(["bag", "--source", "synth-stream", "--out", str(out), "--duration", "1",
                     "--fps", "5", "--size", "64", "64", "--storage", "sqlite3"])
    assert code == 0 and "5 frames" in capsys.readouterr().out
    with BagReader(out) as reader:
        assert reader.layout.message_count > 5
    assert cli.main(["bag", "--source", "synth-stream", "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert cli.main(["bag", "--source", "avsbench", "--out", str(tmp_path / "x")]) == 2
    assert "needs --root" in capsys.readouterr().err


def test_unknown_audio_coding_is_a_bad_message_and_stops_decoding(tmp_path):
    from avs_ros.bag.reader import BadMessage

    store = typestore()
    out = tmp_path / "flac"
    info = store.types["audio_common_msgs/msg/AudioInfo"](
        channels=1, sample_rate=16000, sample_format="S16LE", bitrate=64000, coding_format="flac")
    with BagWriter(out, store) as bag:
        bag.write("/camera/image_raw", IMAGE, START,
                  messages.rgb_image(store, START, "cam", np.zeros((8, 8, 3), np.uint8)))
        bag.write("/audio/audio_info", "audio_common_msgs/msg/AudioInfo", START + 1, info)
        bag.write("/audio/audio_stamped", "audio_common_msgs/msg/AudioDataStamped", START + 2,
                  messages.audio_stamped(store, "audio_data_stamped", START, "mic",
                                         np.zeros(320, np.float32)))
    with BagReader(out) as reader:
        events = list(reader.events())
    bad = [e for e in events if isinstance(e, BadMessage)]
    assert [b.topic for b in bad] == ["/audio/audio_info", "/audio/audio_stamped"]
    assert "coding_format='flac'" in bad[0].reason
    assert "last AudioInfo was refused" in bad[1].reason   # not read as S16LE
    assert not [e for e in events if isinstance(e, AudioEvent)]


def test_mp3_audio_as_audio_capture_records_it(tmp_path):
    """An mp3 stream (LAME, one frame per message, audio_capture's default) in a bag is decoded
    by the node's reader: the events' samples are the signal, delayed by the codec."""
    av = pytest.importorskip("av")
    store = typestore()
    rate, seconds = 16000, 2
    t = np.arange(rate * seconds) / rate
    x = 0.4 * np.sin(2 * np.pi * 330 * t)
    enc = av.CodecContext.create("libmp3lame", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = rate, "mono", "s16p", 192000
    packets = []
    for start in range(0, x.size, 576):
        frame = av.AudioFrame.from_ndarray(
            np.round(x[None, start:start + 576] * 32767).astype(np.int16), format="s16p",
            layout="mono")
        frame.sample_rate = rate
        packets += [bytes(p) for p in enc.encode(frame)]
    out = tmp_path / "mp3"
    info = store.types["audio_common_msgs/msg/AudioInfo"](
        channels=1, sample_rate=rate, sample_format="S16LE", bitrate=192, coding_format="mp3")
    with BagWriter(out, store) as bag:
        bag.write("/camera/image_raw", IMAGE, START,
                  messages.rgb_image(store, START, "cam", np.zeros((8, 8, 3), np.uint8)))
        bag.write("/audio/audio_info", "audio_common_msgs/msg/AudioInfo", START + 1, info)
        for k, packet in enumerate(packets):
            stamp = START + k * 576 * 10**9 // rate
            msg = store.types["audio_common_msgs/msg/AudioDataStamped"](
                header=messages.header(store, stamp, "mic"),
                audio=store.types["audio_common_msgs/msg/AudioData"](
                    data=np.frombuffer(packet, np.uint8)))
            bag.write("/audio/audio_stamped", "audio_common_msgs/msg/AudioDataStamped",
                      stamp + 2, msg)
    with BagReader(out) as reader:
        audio = [e for e in reader.events() if isinstance(e, AudioEvent)]
    assert audio[0].stamp_ns == START and audio[0].sample_rate == rate
    y = np.concatenate([decode_samples(e.samples, e.channels, e.fmt) for e in audio])
    lag = 1105                                  # LAME's 576 + the decoder's 529 samples
    r = np.corrcoef(y[lag:lag + 20000], x[:20000])[0, 1]
    assert r > 0.99, r

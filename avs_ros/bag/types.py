"""The rosbags typestore of our bags: ROS 2 Kilted's standard messages (sensor_msgs,
std_msgs, visualization_msgs, ...) plus ``avs_ros/msg/*`` and one ``audio_common_msgs``
flavour (see :mod:`.msgdefs`).

Kilted is the distribution of the ROS 2 wheels this project builds against
(scripts/setup_ros.sh); its standard definitions are those of Humble onward for every type
used here, so bags written with this store play on any current distribution.
"""
from __future__ import annotations

from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from rosbags.typesys.store import Typestore

from .msgdefs import AUDIO_FLAVOURS, AVS_ROS

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
STRING = "std_msgs/msg/String"
MARKER_ARRAY = "visualization_msgs/msg/MarkerArray"
OBJECTS = "avs_ros/msg/SoundingObjectArray"
AUDIO_INFO = "audio_common_msgs/msg/AudioInfo"


def typestore(audio_type: str = "audio_data_stamped") -> Typestore:
    """A fresh typestore: Kilted + avs_ros + the ``audio_type`` flavour of audio_common_msgs.

    Args:
        audio_type: ``"audio_data_stamped"`` (ros-drivers) or ``"audio_stamped"`` (mgonzs13).

    Raises:
        ValueError: unknown ``audio_type``.
    """
    if audio_type not in AUDIO_FLAVOURS:
        raise ValueError(f"audio type must be one of {sorted(AUDIO_FLAVOURS)}, got {audio_type!r}")
    store = get_typestore(Stores.ROS2_KILTED)
    for defs in (AVS_ROS, AUDIO_FLAVOURS[audio_type]):
        types = {}
        for name, text in defs.items():
            types.update(get_types_from_msg(text, name))
        store.register(types)
    return store

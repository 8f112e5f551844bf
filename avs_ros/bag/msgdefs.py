"""Field lists of the message types our bags use beyond the standard ROS 2 set.

Kept in code (not read from ``msg/`` or ``test/fixtures`` at run time) so that an installed
package writes and reads bags without the source tree. Comments are left out: only fields
matter to serialisation and to the definitions stored in a bag. A test checks that each text
defines exactly the fields of its source file (``msg/*.msg`` for avs_ros, the fixtures under
``test/fixtures/ros/`` for the two audio_common_msgs packages).

- ``AVS_ROS``: our ``avs_ros/msg/SoundingObject`` and ``SoundingObjectArray``.
- ``AUDIO_FLAVOURS``: ``audio_common_msgs`` as published by ros-drivers/audio_common
  (``audio_data_stamped``: AudioData, AudioDataStamped, AudioInfo) and by
  mgonzs13/audio_common (``audio_stamped``: AudioData, AudioInfo, Audio, AudioStamped).
  Both packages use the same name, so one typestore holds one flavour.
"""
from __future__ import annotations

AVS_ROS: dict[str, str] = {
    "avs_ros/msg/SoundingObject": """\
string class_id
string class_name
float64 score
float64 bbox_center_x
float64 bbox_center_y
float64 bbox_size_x
float64 bbox_size_y
float64 centroid_x
float64 centroid_y
uint32 area_px
string frame_id
bool has_bearing
geometry_msgs/Vector3 bearing
float64 azimuth_deg
float64 elevation_deg
bool has_position
geometry_msgs/Point position
geometry_msgs/Vector3 extent
float32 valid_depth_fraction
""",
    "avs_ros/msg/SoundingObjectArray": """\
std_msgs/Header header
SoundingObject[] objects
builtin_interfaces/Time audio_window_start
builtin_interfaces/Time audio_window_end
float32 inference_latency_ms
""",
}

AUDIO_FLAVOURS: dict[str, dict[str, str]] = {
    "audio_data_stamped": {
        "audio_common_msgs/msg/AudioData": "uint8[] data\n",
        "audio_common_msgs/msg/AudioDataStamped": "std_msgs/Header header\nAudioData audio\n",
        "audio_common_msgs/msg/AudioInfo": """\
uint8 channels
uint32 sample_rate
string sample_format
uint32 bitrate
string coding_format
""",
    },
    "audio_stamped": {
        "audio_common_msgs/msg/AudioData": """\
float32[] float32_data
int32[] int32_data
int16[] int16_data
int8[] int8_data
uint8[] uint8_data
""",
        "audio_common_msgs/msg/AudioInfo": """\
int32 format
int32 channels
int32 rate
int32 chunk
""",
        "audio_common_msgs/msg/Audio": "AudioData audio_data\nAudioInfo info\n",
        "audio_common_msgs/msg/AudioStamped": "std_msgs/Header header\nAudio audio\n",
    },
}

#: the stamped audio message of each flavour
STAMPED_AUDIO = {"audio_data_stamped": "audio_common_msgs/msg/AudioDataStamped",
                 "audio_stamped": "audio_common_msgs/msg/AudioStamped"}

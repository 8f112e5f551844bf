"""ROS-free runtime core shared by the ROS 2 node and the replay tool (no rclpy here).

Modules (import the one you need; nothing is imported as a side effect):
``resample`` streaming polyphase resampler; ``audio_buffer`` 16 kHz ring buffer on stamps;
``pairing`` frame/audio pairing policy on an explicit clock; ``image_codec`` image message
fields <-> arrays; ``preprocess`` model inputs; ``postprocess`` mask, objects and overlay;
``pipeline`` the timed per-frame pipeline and latency statistics; ``errors`` the error types.
Stamps are integer ns (``sec * 10**9 + nanosec``).
"""

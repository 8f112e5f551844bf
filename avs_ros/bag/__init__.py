"""ROS 2 bags without a ROS installation (rosbags + mcap): message types, writing demo and
benchmark bags (``avs bag``), and reading camera, audio and ground-truth topics back.

Modules: ``msgdefs`` the .msg texts the bags need beyond the standard ROS 2 types;
``types`` the typestore; ``messages`` message builders; ``sources`` SynthAVS stream and
AVSBench split as timed frames and audio; ``writer`` time-ordered bag writing; ``reader``
topics -> frames, audio chunks and ground truth with clear errors; ``cli`` the ``avs bag`` verb.
"""

"""``audio_capture_node``: microphone -> audio_common_msgs (ros-drivers flavour), via PyAudio.

Publishes ``AudioDataStamped`` (raw S16LE, interleaved) on ``audio_topic`` for every ``chunk``
frames captured, stamped with the first sample's time (:class:`~avs_ros.core.capture.
SampleClock`), and ``AudioInfo`` (coding "wave") on ``audio_info_topic`` at start and every
``info_period_s``. Parameters: ``device`` ("" = default input, an index, or part of a device
name; the PortAudio ``pulse`` device reads the source named by $PULSE_SOURCE),
``sample_rate`` (Hz), ``channels``, ``chunk`` (frames per message), ``frame_id``. The
default is what ``avs_node`` reads without resampling: 16 kHz mono.

Needs PyAudio (``pip install pyaudio``; Debian: portaudio19-dev to build it).
"""
from __future__ import annotations

import array
import sys

import rclpy
from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from builtin_interfaces.msg import Time
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

from .core.capture import SampleClock, select_input_device
from .core.shutdown import freeze_heap, ignore_interrupts


class AudioCaptureNode(Node):
    """Captures from one PortAudio input device (see the module docstring).

    Raises:
        ValueError: no matching input device (the message lists them), or bad parameters.
        ImportError: PyAudio is not installed.
    """

    def __init__(self) -> None:
        super().__init__("audio_capture_node")
        import pyaudio

        device = self.declare_parameter("device", "").value
        self.rate = self.declare_parameter("sample_rate", 16000).value
        self.channels = self.declare_parameter("channels", 1).value
        self.chunk = self.declare_parameter("chunk", 512).value
        self.frame_id = self.declare_parameter("frame_id", "mic").value
        topic = self.declare_parameter("audio_topic", "audio/audio_stamped").value
        info_topic = self.declare_parameter("audio_info_topic", "audio/audio_info").value
        period = self.declare_parameter("info_period_s", 5.0).value
        if self.rate <= 0 or self.channels <= 0 or self.chunk <= 0 or period <= 0:
            raise ValueError(f"sample_rate, channels, chunk and info_period_s must be > 0, got "
                             f"{self.rate}, {self.channels}, {self.chunk}, {period}")
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.create_publisher(AudioDataStamped, topic, qos)
        self.info_pub = self.create_publisher(AudioInfo, info_topic, qos)
        self.clock = SampleClock(self.rate)
        self._closing = False
        self.pa = pyaudio.PyAudio()
        devices = [self.pa.get_device_info_by_index(i) for i in range(self.pa.get_device_count())]
        index = select_input_device(devices, device)
        self.info = AudioInfo(channels=self.channels, sample_rate=self.rate,
                              sample_format="S16LE", bitrate=self.rate * self.channels * 16,
                              coding_format="wave")
        self.publish_info()
        self.create_timer(period, self.publish_info)
        self.stream = self.pa.open(format=pyaudio.paInt16, channels=self.channels,
                                   rate=self.rate, input=True, input_device_index=index,
                                   frames_per_buffer=self.chunk, stream_callback=self._on_audio)
        self.get_logger().info(f"capturing from device {index} ({devices[index]['name']}): "
                               f"{self.rate} Hz, {self.channels} ch, {self.chunk} frames/msg")

    def publish_info(self) -> None:
        """Publish the AudioInfo of this stream."""
        self.info_pub.publish(self.info)

    def _on_audio(self, data: bytes, frames: int, time_info, status):
        """PortAudio callback (its own thread): stamp and publish one chunk.

        Ends the stream (``paComplete``) once the ROS context is shut down: Ctrl-C shuts the
        context down from rclpy's signal handler before :meth:`close` runs, and a publish on
        it would raise ``RCLError`` here, which PyAudio re-raises from ``stop_stream()``.
        Another publish failure is logged and capture goes on.
        """
        import pyaudio

        if self._closing or not self.context.ok():
            return None, pyaudio.paComplete
        stamp = self.clock.stamp(self.get_clock().now().nanoseconds, frames)
        # (not ros_convert.ns_to_time: that module brings PyTorch in, 10 s of start-up)
        sec, nanosec = divmod(stamp, 1_000_000_000)
        msg = AudioDataStamped(header=Header(stamp=Time(sec=sec, nanosec=nanosec),
                                             frame_id=self.frame_id))
        msg.audio = AudioData(data=array.array("B", data))
        try:
            self.pub.publish(msg)
        except Exception as exc:  # noqa: BLE001 - nothing may escape into PortAudio
            if self._closing or not self.context.ok():
                return None, pyaudio.paComplete
            self.get_logger().error(f"publish failed: {type(exc).__name__}: {exc}",
                                    throttle_duration_sec=5.0)
        return None, pyaudio.paContinue

    def close(self) -> None:
        """Stop the stream (its callback ends it once ``_closing`` is set) and release
        PortAudio."""
        self._closing = True
        if not self.stream.is_stopped():
            self.stream.stop_stream()
        self.stream.close()
        self.pa.terminate()


def main(args: list[str] | None = None) -> int:
    """Run until Ctrl-C; returns the exit code (1: no device or PyAudio)."""
    rclpy.init(args=args)
    node = None
    try:
        node = AudioCaptureNode()
        rclpy.spin(node)
    except (ValueError, ImportError, OSError) as exc:
        rclpy.logging.get_logger("audio_capture_node").error(str(exc))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        ignore_interrupts()
    finally:
        ignore_interrupts()   # a second Ctrl-C must not break the cleanup below
        if node is not None:
            if hasattr(node, "stream"):
                node.close()
            node.destroy_node()
        rclpy.try_shutdown()
        freeze_heap()
    return 0


if __name__ == "__main__":
    sys.exit(main())

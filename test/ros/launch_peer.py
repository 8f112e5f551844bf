"""Test-side rclpy process that feeds an avs_node started by ``ros2 launch`` and waits for its
outputs (reuses :class:`avs_node_driver.Driver`).

    python launch_peer.py NAMESPACE FRAMES

Publishes 3 s of 16 kHz S16LE tone on ``NAMESPACE/audio`` (AudioDataStamped, the node's
default format) and FRAMES rgb8 images on ``NAMESPACE/camera/image_raw``, each after the
previous one's mask, objects, markers and overlay arrived. Prints one JSON line
(``{"masks": n, "stamps": [...]}``); exits 0 when every frame got its outputs, 3 on a timeout.
"""
from __future__ import annotations

import json
import sys
import time

import rclpy
from avs_node_driver import Driver, Timeout
from sensor_msgs.msg import Image


def main(argv: list[str]) -> int:
    namespace, frames = argv[0], int(argv[1])
    rclpy.init()
    driver = Driver(namespace)
    stamps, code = [], 0
    try:
        from audio_common_msgs.msg import AudioDataStamped

        audio = driver.publisher(AudioDataStamped, "audio")
        driver.publisher(Image, "camera/image_raw")
        driver.wait_matched()
        for i in range(30):                      # 0.0 .. 3.0 s in 0.1 s chunks
            msg = AudioDataStamped()
            driver.header(i * 0.1, msg)
            msg.audio.data = (driver.tone(i * 0.1, (i + 1) * 0.1, 16000) * 32767)\
                .astype("<i2").tobytes()
            audio.publish(msg)
            time.sleep(0.002)
        for i in range(frames):
            stamps.append(driver.image(1.5 + 0.1 * i))
            driver.wait_mask(stamps[-1], timeout=60.0)
    except Timeout as exc:
        print(str(exc), file=sys.stderr)
        code = 3
    finally:
        print(json.dumps({"masks": len(driver.out["masks"]), "stamps": stamps}), flush=True)
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""pip installer for avs_ros (the ROS 2 package itself is built by colcon from package.xml)."""
from setuptools import find_packages, setup

EXTRAS = {
    # ONNX export and the ONNX Runtime backend.
    "onnx": ["onnx>=1.16", "onnxruntime>=1.18", "onnxscript>=0.2"],
    # Offline training and evaluation.
    "train": ["pyyaml>=6", "tqdm>=4.60", "pillow>=10", "soundfile>=0.12", "scikit-image>=0.22"],
    # Bags, replay reports and the demo.
    "replay": ["rosbags>=0.10", "matplotlib>=3.7", "tqdm>=4.60"],
    # Microphone capture (audio_capture_node); PortAudio headers come from the OS.
    "mic": ["pyaudio>=0.2.13"],
    # mp3 audio (ros-drivers audio_capture's default coding), decoded by FFmpeg through PyAV.
    "mp3": ["av>=12"],
    # The test suite (mcap's own reader checks that our bags decode without rosbags; our PANNs
    # log-mel is checked against torchlibrosa, which PANNs runs, and librosa's mel filters).
    "test": ["pytest>=8", "pytest-timeout>=2.2", "mcap>=1.1", "mcap-ros2-support>=0.5",
             "torchlibrosa==0.1.0", "librosa>=0.10", "hypothesis>=6.100", "av>=12"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="avs_ros",
    version="0.1.0",
    description="Real-time audio-visual segmentation (AVESFormer, LightAVSeg, AVSegFormer) for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["avs_models", "avs_models.*", "avs_ros", "avs_ros.*"]),
    # the shipped default checkpoint (avs_models.weights.default_checkpoint) and its recipe
    package_data={"avs_models.weights": ["*.pt", "README.md"]},
    # torch is pinned by scripts/bootstrap.sh where none is installed; any recent torch works.
    install_requires=["numpy>=1.24", "torch>=2.4", "scipy>=1.10", "opencv-python-headless>=4.8"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["avs = avs_ros.cli:main"]},
)

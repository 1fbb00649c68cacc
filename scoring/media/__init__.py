"""Media layer: the ffmpeg binary (imageio-ffmpeg wheel), PyAV probing and exact frame decoding."""

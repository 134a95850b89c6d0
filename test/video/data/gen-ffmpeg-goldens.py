"""Decodes some of this folder's JPEGs the way echo_CLIP's read_avi does (cv2.VideoCapture, FFmpeg
backend), writing NAME.ffmpeg.bgr: the reference for decodeJpeg(..., {emulate: 'ffmpeg'}).
Each JPEG is wrapped in a minimal one-frame Motion-JPEG AVI first.
Run with opencv-python-headless (checked with 4.14.0.94, whose FFmpeg decodes the fixture's
example_video.avi exactly like the OpenCV 4.6 that made ../shared's goldens):
    python gen-ffmpeg-goldens.py
"""
import os
import struct
import tempfile

import cv2

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = ["gray", "s444", "even_s420", "even_s422"]


def chunk(cid, data):
    return cid + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")


def lst(kind, children, cid=b"LIST"):
    return chunk(cid, kind + b"".join(children))


def avi(jpeg, width, height):
    avih = struct.pack("<14I", 33333, 0, 0, 0x10, 1, 0, 1, 0, width, height, 0, 0, 0, 0)
    strh = b"vids" + b"MJPG" + struct.pack("<10I", 0, 0, 0, 1, 30, 0, 1, 0, 0xFFFFFFFF, 0) + struct.pack("<4H", 0, 0, width, height)
    strf = struct.pack("<IiiHH", 40, width, height, 1, 24) + b"MJPG" + struct.pack("<5I", 0, 0, 0, 0, 0)
    hdrl = lst(b"hdrl", [chunk(b"avih", avih), lst(b"strl", [chunk(b"strh", strh), chunk(b"strf", strf)])])
    movi = lst(b"movi", [chunk(b"00dc", jpeg)])
    idx1 = chunk(b"idx1", b"00dc" + struct.pack("<3I", 0x10, 4, len(jpeg)))
    return lst(b"AVI ", [hdrl, movi, idx1], b"RIFF")


for name in CASES:
    jpeg = open(os.path.join(HERE, name + ".jpg"), "rb").read()
    img = cv2.imdecode(__import__("numpy").frombuffer(jpeg, "uint8"), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    with tempfile.NamedTemporaryFile(suffix=".avi", delete=False) as f:
        f.write(avi(jpeg, w, h))
    cap = cv2.VideoCapture(f.name)
    ok, frame = cap.read()
    cap.release()
    os.unlink(f.name)
    assert ok and frame.shape == (h, w, 3), name
    open(os.path.join(HERE, name + ".ffmpeg.bgr"), "wb").write(frame.tobytes())
    print(name, w, h)

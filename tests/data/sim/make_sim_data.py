#!/usr/bin/env python3
"""Make the replay data of the `mote sim` tests (tools/mote/tests/sim.rs).

Run from the repository root, in the models/ venv plus pydicom:

    <venv>/bin/pip install pydicom==3.0.2
    <venv>/bin/python tests/data/sim/make_sim_data.py

Writes into tests/data/sim/:
- basicmotions_stream.csv: a real recorded wrist IMU stream (accelerometer
  x, y, z then gyroscope x, y, z, 10 Hz) from BasicMotions (UEA archive, the
  .ts file inside the `aeon` 1.6.0 wheel, read as models/imu_motions does):
  the first TEST recording of each class, back to back (4 x 100 samples).
- digit_<i>.png: 8-bit grey PNGs of the first images of
  models/medmnist_cnn/test_x.npy (pixels = round(x * 255)).
- ct12_<i>.dcm: the same pixels as 12-bit unsigned CT-style DICOM, each
  pixel a 2x2 block (56 x 56): stored = 8 p + 1000, RescaleSlope 1,
  RescaleIntercept -1024, WindowCenter 996.5, WindowWidth 2041, so the
  DICOM linear window gives p / 255 again.
- mr16_<i>.dcm: 16-bit signed: stored = 4 p - 512, RescaleSlope 0.5,
  RescaleIntercept 0, WindowCenter -0.5, WindowWidth 511 (again p / 255).
"""
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models"))
import recipe_util as ru  # noqa: E402

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from pydicom.dataset import FileDataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

N_IMAGES = 6


def stream():
    x, y, classes = ru.read_ts(ru.package_file(
        "aeon", "datasets", "data", "BasicMotions", "BasicMotions_TEST.ts"))
    x = np.asarray(x, dtype=np.float32)            # [N, 6, 100]
    picks = [list(y).index(c) for c in classes]     # first of each class
    rows = np.concatenate([x[i].T for i in picks])  # [400, 6]
    labels = [classes.index(y[i]) for i in picks]
    path = os.path.join(HERE, "basicmotions_stream.csv")
    with open(path, "w") as f:
        f.write("# BasicMotions TEST recordings %s (classes %s), 100 samples each, 10 Hz\n"
                % (picks, labels))
        f.write("acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n")
        for r in rows:
            f.write(",".join("%.9g" % v for v in r) + "\n")


def png(path, img):
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def dicom(path, stored, signed, bits_stored, slope, intercept, center, width, modality):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[path])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "Synthetic^Digit"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.WindowCenter = center
    ds.WindowWidth = width
    ds.PixelData = stored.astype("<i2" if signed else "<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def images():
    x = np.load(os.path.join(ROOT, "models", "medmnist_cnn", "test_x.npy"))
    for i in range(N_IMAGES):
        p = np.rint(x[i, 0] * 255).astype(np.uint8)
        png(os.path.join(HERE, "digit_%d.png" % i), p)
    p = np.rint(x[0, 0] * 255).astype(np.int32)
    big = np.kron(p, np.ones((2, 2), dtype=np.int32))
    dicom(os.path.join(HERE, "ct12_0.dcm"), 8 * big + 1000, False, 12, 1, -1024, 996.5, 2041, "CT")
    p = np.rint(x[1, 0] * 255).astype(np.int32)
    dicom(os.path.join(HERE, "mr16_1.dcm"), 4 * p - 512, True, 16, 0.5, 0, -0.5, 511, "MR")


if __name__ == "__main__":
    stream()
    images()

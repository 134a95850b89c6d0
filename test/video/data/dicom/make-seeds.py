#!/usr/bin/python3
"""Regenerates the committed fuzz seeds (tiny files the Node-side encoders cannot make):
lossless JPEG (dcmcjpeg, predictors 1 and 7) and Explicit VR Big Endian (dcmconv +tb).
usage: cd test/video/data/dicom && /usr/bin/python3 make-seeds.py"""
import os
import subprocess
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset


def base(arr, photometric, bits=8, stored=8, path='base.dcm', palette=False):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.3.1'
    ds.file_meta.MediaStorageSOPInstanceUID = '1.2.826.0.1.3680043.10.1234.5'
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = 'US'
    n, h, w = arr.shape[:3]
    ds.SamplesPerPixel = 3 if arr.ndim == 4 else 1
    ds.PhotometricInterpretation = photometric
    if arr.ndim == 4:
        ds.PlanarConfiguration = 0
    ds.NumberOfFrames, ds.Rows, ds.Columns = n, h, w
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, stored, stored - 1, 0
    if palette:
        for c, tag in enumerate(['Red', 'Green', 'Blue']):
            setattr(ds, f'{tag}PaletteColorLookupTableDescriptor', [256, 0, 16])
            setattr(ds, f'{tag}PaletteColorLookupTableData', (np.arange(256, dtype='<u2') * (c + 1) * 97).astype('<u2').tobytes())
    ds.PixelData = arr.astype(np.uint8 if bits == 8 else '<u2').tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(path, write_like_original=False)


y, x = np.mgrid[0:12, 0:16]
rgb = np.stack([np.stack([(x * 16 + f * 40) % 256, y * 20, (x * y * 3) % 256], -1) for f in range(2)]).astype(np.uint8)
base(rgb, 'RGB')
subprocess.run(['dcmcjpeg', '+e1', 'base.dcm', 'lossless-sv1.dcm'], check=True)
base(((x * 250 + y * 90) % 4096)[None].astype(np.uint16), 'MONOCHROME2', 16, 12)
subprocess.run(['dcmcjpeg', '+el', '+sv', '7', 'base.dcm', 'lossless-sv7-mono12.dcm'], check=True)
base(((x * 16 + y) % 256)[None].astype(np.uint8), 'PALETTE COLOR', palette=True)
subprocess.run(['dcmconv', '+tb', 'base.dcm', 'big-endian-palette.dcm'], check=True)
os.remove('base.dcm')

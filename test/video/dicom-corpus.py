#!/usr/bin/python3
"""Generates the DICOM test corpus with Debian's DICOM tools and its reference pixels.

usage: dicom-corpus.py INPUT_DIR OUTPUT_DIR

INPUT_DIR (written by dicom-corpus.ts) holds inputs.json and raw sources: RGB frames of the
example video (decoded by our AVI reader), synthetic RGB / palette / 16-bit images, and JPEG 2000 /
HTJ2K codestreams made by the Cornerstone encoders. This script writes base DICOM files with
pydicom, converts them with dcmtk (dcmcjpeg, dcmcjpls, dcmcrle, dcmconv) and GDCM (gdcmconv), and
decodes every variant with GDCM (compressed) or pydicom (native) to reference RGB bytes:
  - JPEG YCbCr is converted with libjpeg's integer tables (jdcolor.c): GDCM hands out YCbCr;
  - palettes through pydicom's apply_color_lut, 16-bit entries by their high byte;
  - 16-bit monochrome through the linear VOI window of PS3.3 C.11.2.1.2.1, rounded half up.
OUTPUT_DIR gets <name>.dcm, <name>.rgb (N*H*W*3 bytes) and manifest.json.
"""
import io
import json
import os
import subprocess
import sys

import gdcm
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import write_file_meta_info
from pydicom.pixel_data_handlers.util import apply_color_lut

src, out = sys.argv[1], sys.argv[2]
spec = json.load(open(os.path.join(src, 'inputs.json')))
os.makedirs(out, exist_ok=True)
manifest = []
UID_ROOT = '1.2.826.0.1.3680043.10.1234.'
counter = [0]


def uid():
    counter[0] += 1
    return f'{UID_ROOT}{counter[0]}'


def raw(name, shape, dtype=np.uint8):
    return np.fromfile(os.path.join(src, name), dtype=dtype).reshape(shape)


def dataset(frames, photometric, bits=8, stored=None, sop='1.2.840.10008.5.1.4.1.1.3.1', extra=None):
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = uid()
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID_ROOT + '0'
    ds.file_meta = meta
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = UID_ROOT + '9.1'
    ds.SeriesInstanceUID = uid()
    ds.Modality = 'US'
    ds.PatientName = 'Corpus^Test'
    ds.PatientID = 'CORPUS'
    n, h, w = frames.shape[:3]
    ds.SamplesPerPixel = 3 if frames.ndim == 4 else 1
    ds.PhotometricInterpretation = photometric
    if frames.ndim == 4:
        ds.PlanarConfiguration = 0
    ds.NumberOfFrames = n
    ds.FrameTime = 33.3
    ds.Rows, ds.Columns = h, w
    ds.BitsAllocated = bits
    ds.BitsStored = stored or bits
    ds.HighBit = (stored or bits) - 1
    ds.PixelRepresentation = 0
    for k, v in (extra or {}).items():
        setattr(ds, k, v)
    ds.PixelData = frames.astype(np.uint8 if bits == 8 else '<u2').tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    return ds


def save(ds, name):
    path = os.path.join(out, name + '.dcm')
    ds.save_as(path, write_like_original=False)
    return path


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f'{" ".join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-400:]}')


# ---------------------------------------------------------------- references

def ycc_to_rgb(ycc):
    """libjpeg jdcolor.c ycc_rgb_convert (SCALEBITS 16) on uint8 [..., 3]."""
    fix = lambda x: int(x * 65536 + 0.5)
    i = np.arange(256, dtype=np.int64) - 128
    cr_r = (fix(1.40200) * i + 32768) >> 16
    cb_b = (fix(1.77200) * i + 32768) >> 16
    cr_g = -fix(0.71414) * i
    cb_g = -fix(0.34414) * i + 32768
    y = ycc[..., 0].astype(np.int64)
    cb = ycc[..., 1]
    cr = ycc[..., 2]
    r = y + cr_r[cr]
    g = y + ((cb_g[cb] + cr_g[cr]) >> 16)
    b = y + cb_b[cb]
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def jpeg_colorspace(frame):
    """libjpeg's default_decompress_parms for 3 components: 'YCbCr' or 'RGB'."""
    i, jfif, adobe, ids = 2, False, None, None
    while i + 4 <= len(frame):
        m = frame[i + 1]
        ln = int.from_bytes(frame[i + 2:i + 4], 'big')
        seg = frame[i + 4:i + 2 + ln]
        if m == 0xE0 and seg[:5] == b'JFIF\0':
            jfif = True
        if m == 0xEE and seg[:5] == b'Adobe':
            adobe = seg[11]
        if m in (0xC0, 0xC1, 0xC3):
            ids = (seg[6], seg[9], seg[12])
        if m == 0xDA:
            break
        i += 2 + ln
    if jfif:
        return 'YCbCr'
    if adobe is not None:
        return 'RGB' if adobe == 0 else 'YCbCr'
    return 'RGB' if ids == (82, 71, 66) else 'YCbCr'


def jpegls_ilv(path):
    ds = pydicom.dcmread(path)
    f = frame_bytes(ds, 0)
    i = f.find(b'\xff\xda')
    ns = f[i + 4]
    return f[i + 4 + 1 + 2 * ns + 1]  # Ls(2) Ns Cs/Tm pairs NEAR ILV


def gdcm_decode(path):
    """GDCM's decode: samples as [N, H, W, C] plus GDCM's photometric interpretation."""
    r = gdcm.ImageReader()
    r.SetFileName(path)
    if not r.Read():
        raise SystemExit(f'GDCM cannot read {path}')
    img = r.GetImage()
    dims = img.GetDimensions()
    w, h = dims[0], dims[1]
    n = dims[2] if len(dims) > 2 else 1
    pf = img.GetPixelFormat()
    c = pf.GetSamplesPerPixel()
    dtype = np.uint8 if pf.GetBitsAllocated() == 8 else ('<i2' if pf.GetPixelRepresentation() else '<u2')
    buf = np.frombuffer(img.GetBuffer().encode('utf-8', 'surrogateescape'), dtype=dtype)[: n * h * w * c]
    # GDCM 3.0 hands out JPEG-LS frames coded without interleave (ILV 0) as planes while still
    # reporting planar configuration 0: read the ILV from the scan header.
    ts = str(img.GetTransferSyntax())
    ilv_none = ts.startswith('1.2.840.10008.1.2.4.8') and jpegls_ilv(path) == 0
    if c == 3 and (img.GetPlanarConfiguration() == 1 or ilv_none):
        arr = buf.reshape(n, c, h, w).transpose(0, 2, 3, 1)
    else:
        arr = buf.reshape(n, h, w, c)
    return arr, str(img.GetPhotometricInterpretation()).strip()


def frame_bytes(ds, k):
    n = int(getattr(ds, 'NumberOfFrames', 1))
    return list(pydicom.encaps.generate_pixel_data_frame(ds.PixelData, n))[k]


def to_rgb(path, kind):
    """Reference RGB uint8 [N, H, W, 3] of a file, by GDCM (compressed) or pydicom (native)."""
    ds = pydicom.dcmread(path)
    ts = ds.file_meta.TransferSyntaxUID
    pm = ds.PhotometricInterpretation
    if ts.is_compressed:
        arr, gpm = gdcm_decode(path)
        if ts in ('1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51') and arr.shape[-1] == 3:
            # GDCM hands out the JPEG's colour space unconverted; libjpeg would convert YCbCr.
            if jpeg_colorspace(frame_bytes(ds, 0)) == 'YCbCr':
                arr = ycc_to_rgb(arr)
            return arr
    else:
        arr = ds.pixel_array
        n = int(getattr(ds, 'NumberOfFrames', 1))
        arr = arr.reshape(n, ds.Rows, ds.Columns, -1)
        if pm in ('YBR_FULL', 'YBR_FULL_422'):
            return ycc_to_rgb(arr)
    if kind == 'palette':
        lut_bits = ds.RedPaletteColorLookupTableDescriptor[2]
        if not ds.is_little_endian and lut_bits == 16:
            # pydicom 2.3's apply_color_lut reads LUT words little endian whatever the file's byte order.
            for tag in ['Red', 'Green', 'Blue']:
                k = f'{tag}PaletteColorLookupTableData'
                setattr(ds, k, np.frombuffer(getattr(ds, k), '>u2').astype('<u2').tobytes())
        rgb = apply_color_lut(arr[..., 0], ds)
        return (rgb >> 8).astype(np.uint8) if lut_bits == 16 else rgb.astype(np.uint8)
    if kind == 'mono16':
        # PS3.3 C.11.2.1.2.1 linear VOI window straight onto 0..255, rounded half up.
        c, w = float(ds.WindowCenter), float(ds.WindowWidth)
        x = arr[..., 0].astype(np.float64)
        y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
        y = np.where(x <= c - 0.5 - (w - 1) / 2, 0, np.where(x > c - 0.5 + (w - 1) / 2, 255, y))
        g = np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, -1)
    if arr.shape[-1] == 1:
        return np.repeat(arr.astype(np.uint8), 3, -1)
    return arr.astype(np.uint8)


def emit(name, path, kind, source, lossless, note=''):
    ref = to_rgb(path, kind)
    ref.tofile(os.path.join(out, name + '.rgb'))
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    manifest.append({
        'name': name, 'file': os.path.basename(path), 'syntax': str(ds.file_meta.TransferSyntaxUID),
        'photometric': ds.PhotometricInterpretation, 'frames': int(ref.shape[0]), 'height': int(ref.shape[1]),
        'width': int(ref.shape[2]), 'kind': kind, 'source': source, 'lossless': lossless, 'note': note,
    })


def variant(base, name, tool, kind, source, lossless, note=''):
    path = os.path.join(out, name + '.dcm')
    run(*tool, base, path)
    emit(name, path, kind, source, lossless, note)


def replace_meta(path_in, name, syntax):
    """A copy whose meta group names another transfer syntax; the data set bytes stay as they are."""
    data = open(path_in, 'rb').read()
    meta = pydicom.filereader.read_file_meta_info(path_in)
    p = 132
    while int.from_bytes(data[p:p + 2], 'little') == 2:
        vr = data[p + 4:p + 6]
        if vr in (b'OB', b'OW', b'UN', b'UT', b'SQ'):
            p += 12 + int.from_bytes(data[p + 8:p + 12], 'little')
        else:
            p += 8 + int.from_bytes(data[p + 6:p + 8], 'little')
    meta.TransferSyntaxUID = syntax
    buf = io.BytesIO()
    write_file_meta_info(pydicom.filebase.DicomFileLike(buf), meta, enforce_standard=True)
    path = os.path.join(out, name + '.dcm')
    open(path, 'wb').write(data[:128] + b'DICM' + buf.getvalue() + data[p:])
    return path


def strip_adobe(path_in, name):
    """The RGB JPEG with its Adobe APP14 marker removed: only the component ids 'R','G','B' remain."""
    ds = pydicom.dcmread(path_in)
    frames = []
    for k in range(int(ds.NumberOfFrames)):
        f = frame_bytes(ds, k)
        i = f.find(b'\xff\xee')
        ln = int.from_bytes(f[i + 2:i + 4], 'big')
        frames.append(f[:i] + f[i + 2 + ln:])
    ds.PixelData = encapsulate(frames)
    path = os.path.join(out, name + '.dcm')
    ds.save_as(path, write_like_original=False)
    return path


def wrap_codestreams(base_ds, name, syntax, photometric, files):
    ds = base_ds.copy()
    ds.file_meta = base_ds.file_meta.copy()
    # pydicom 2.3 does not know the HTJ2K syntaxes: write as JPEG 2000, then rename the syntax.
    ds.file_meta.TransferSyntaxUID = syntax if not syntax.startswith('1.2.840.10008.1.2.4.20') else '1.2.840.10008.1.2.4.90'
    ds.PhotometricInterpretation = photometric
    ds.PixelData = encapsulate([open(os.path.join(src, f), 'rb').read() for f in files])
    ds['PixelData'].is_undefined_length = True
    ds['PixelData'].VR = 'OB'
    ds.is_little_endian, ds.is_implicit_VR = True, False
    path = os.path.join(out, name + '.dcm')
    ds.save_as(path, write_like_original=False)
    if ds.file_meta.TransferSyntaxUID != syntax:
        tmp = path + '.tmp'
        os.rename(path, tmp)
        replace_meta(tmp, name, syntax)
        os.remove(tmp)
    return path


# ---------------------------------------------------------------- bases

us = spec['us']
us_frames = raw(us['file'], (us['frames'], us['height'], us['width'], 3))
us_ds = dataset(us_frames, 'RGB')
us_base = save(us_ds, 'us_native')
emit('us_native', us_base, 'rgb', 'us', True)

sy = spec['syn']
syn_frames = raw(sy['file'], (sy['frames'], sy['height'], sy['width'], 3))
syn_base = save(dataset(syn_frames, 'RGB'), 'syn_native')
emit('syn_native', syn_base, 'rgb', 'syn', True)

pl = spec['palette']
idx = raw(pl['file'], (pl['frames'], pl['height'], pl['width']))
lut = raw(pl['lut16'], (3, 256), '<u2')
pal16 = dataset(idx, 'PALETTE COLOR')
for c, tag in enumerate(['Red', 'Green', 'Blue']):
    setattr(pal16, f'{tag}PaletteColorLookupTableDescriptor', [256, 0, 16])
    setattr(pal16, f'{tag}PaletteColorLookupTableData', lut[c].astype('<u2').tobytes())
pal16_base = save(pal16, 'pal16_native')
emit('pal16_native', pal16_base, 'palette', 'palette16', True)
pal8 = dataset(idx, 'PALETTE COLOR')
lut8 = raw(pl['lut8'], (3, 200))
for c, tag in enumerate(['Red', 'Green', 'Blue']):
    # 200 8-bit entries from value 16 on, packed two per word
    setattr(pal8, f'{tag}PaletteColorLookupTableDescriptor', [200, 16, 8])
    setattr(pal8, f'{tag}PaletteColorLookupTableData', lut8[c].tobytes())
pal8_base = save(pal8, 'pal8_native')
emit('pal8_native', pal8_base, 'palette', 'palette8', True)

mo = spec['mono16']
mono = raw(mo['file'], (mo['frames'], mo['height'], mo['width']), '<u2')
mono_base = save(dataset(mono, 'MONOCHROME2', 16, 12, extra={'WindowCenter': 1500, 'WindowWidth': 2000}), 'mono16_native')
emit('mono16_native', mono_base, 'mono16', 'mono16', True)

# ---------------------------------------------------------------- variants

LOSSLESS_RGB = [
    ('rle', ['dcmcrle']),
    ('jpeg_sv1', ['dcmcjpeg', '+e1']),
    ('jpegls', ['dcmcjpls', '+el']),
    ('jpegls_ilv_none', ['dcmcjpls', '+el', '+in']),
    ('jpegls_ilv_sample', ['dcmcjpls', '+el', '+is']),
    ('gdcm_jpegls', ['gdcmconv', '--jpegls']),
    ('gdcm_lossless_jpeg', ['gdcmconv', '--jpeg']),
    ('j2k', ['gdcmconv', '--j2k']),
    ('implicit', ['dcmconv', '+ti']),
    ('big_endian', ['dcmconv', '+tb']),
    ('deflated_dcmtk', ['dcmconv', '+td']),
    ('deflated_gdcm', ['gdcmconv', '--deflated']),
]
for name, tool in LOSSLESS_RGB:
    variant(us_base, f'us_{name}', tool, 'rgb', 'us', True)
for sv in range(1, 8):
    variant(syn_base, f'syn_jpeg_lossless_sv{sv}', ['dcmcjpeg', '+el', '+sv', str(sv)], 'rgb', 'syn', True)
for name, tool in [('rle', ['dcmcrle']), ('jpegls', ['dcmcjpls', '+el']), ('j2k', ['gdcmconv', '--j2k']), ('big_endian', ['dcmconv', '+tb'])]:
    variant(syn_base, f'syn_{name}', tool, 'rgb', 'syn', True)

LOSSY_RGB = [
    ('jpeg_422', ['dcmcjpeg', '+eb'], 'YBR_FULL_422, 4:2:2'),
    ('jpeg_444', ['dcmcjpeg', '+eb', '+s4'], 'YBR_FULL, 4:4:4'),
    ('jpeg_411', ['dcmcjpeg', '+eb', '+n1'], 'YBR_FULL, 4:1:1'),
    ('jpeg_rgb', ['dcmcjpeg', '+eb', '+cr'], 'RGB components, Adobe transform 0'),
    ('jpeg_extended', ['dcmcjpeg', '+ee'], 'SOF1'),
    ('gdcm_jpeg_lossy', ['gdcmconv', '--jpeg', '-Y', '-q', '90'], 'YCbCr JPEG labelled RGB'),
    ('jpegls_near', ['dcmcjpls', '+en', '+md', '3'], 'NEAR 3'),
    ('j2k_lossy', ['gdcmconv', '--j2k', '-Y', '-q', '40'], ''),
    ('j2k_irreversible', ['gdcmconv', '--j2k', '-Y', '--irreversible', '-q', '40'], '9/7 wavelet'),
]
for name, tool, note in LOSSY_RGB:
    variant(us_base, f'us_{name}', tool, 'rgb', 'us', False, note)
variant(syn_base, 'syn_jpeg_rgb', ['dcmcjpeg', '+eb', '+cr'], 'rgb', 'syn', False, 'odd size, RGB components')
variant(syn_base, 'syn_jpeg_422', ['dcmcjpeg', '+eb'], 'rgb', 'syn', False, 'odd size 4:2:2')
emit('us_jpeg_rgb_ids', strip_adobe(os.path.join(out, 'us_jpeg_rgb.dcm'), 'us_jpeg_rgb_ids'), 'rgb', 'us', False, "RGB components by ids 'R','G','B' only")

# The implicit-body case: an implicit VR data set under a meta group that says explicit.
emit('us_implicit_body', replace_meta(os.path.join(out, 'us_implicit.dcm'), 'us_implicit_body', pydicom.uid.ExplicitVRLittleEndian), 'rgb', 'us', True, 'meta says explicit, data set is implicit')

for name, tool in [('rle', ['dcmcrle']), ('jpegls', ['dcmcjpls', '+el']), ('j2k', ['gdcmconv', '--j2k']), ('big_endian', ['dcmconv', '+tb'])]:
    variant(pal16_base, f'pal16_{name}', tool, 'palette', 'palette16', True)
# GDCM asserts on a palette whose first mapped value is not 0: this one stays native (pydicom's reference).
variant(pal8_base, 'pal8_big_endian', ['dcmconv', '+tb'], 'palette', 'palette8', True)
for name, tool in [('rle', ['dcmcrle']), ('jpeg_sv1', ['dcmcjpeg', '+e1']), ('jpegls', ['dcmcjpls', '+el']), ('j2k', ['gdcmconv', '--j2k']), ('big_endian', ['dcmconv', '+tb'])]:
    variant(mono_base, f'mono16_{name}', tool, 'mono16', 'mono16', True)

# Codestreams from the Cornerstone encoders (MCT on): JPEG 2000 with YBR_RCT / YBR_ICT, decoded by GDCM.
for entry in spec.get('codestreams', []):
    path = wrap_codestreams(us_ds, entry['name'], entry['syntax'], entry['photometric'], entry['files'])
    if entry.get('reference') == 'gdcm':
        emit(entry['name'], path, 'rgb', 'us', entry['lossless'], entry.get('note', ''))
    else:
        manifest.append({'name': entry['name'], 'file': os.path.basename(path), 'syntax': entry['syntax'], 'photometric': entry['photometric'],
                         'frames': us['frames'], 'height': us['height'], 'width': us['width'], 'kind': 'rgb', 'source': 'us',
                         'lossless': entry['lossless'], 'note': entry.get('note', ''), 'noReference': True})

json.dump(manifest, open(os.path.join(out, 'manifest.json'), 'w'), indent=1)

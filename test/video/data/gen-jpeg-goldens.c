/* Generates the small JPEG test vectors in this folder with the system libjpeg-turbo and decodes
 * each with libjpeg's defaults (islow IDCT, fancy upsampling) to BGR: the decoder under test must
 * reproduce those bytes exactly.
 * Build and run (from test/video/data):
 *   gcc -O2 -o /tmp/gen-jpeg-goldens gen-jpeg-goldens.c -ljpeg && /tmp/gen-jpeg-goldens
 * Outputs NAME.jpg and NAME.bgr (W*H*3 bytes, libjpeg's decode) for each case below
 * (progressive.jpg has no .bgr: it only checks the refusal). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

#define MAXW 64
#define MAXH 64
static int W = 37, H = 29;

static unsigned char img[MAXW * MAXH * 3];

static void make_image(void) {
  unsigned s = 12345;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      s = s * 1103515245u + 12345u;
      int n = (int)((s >> 16) & 31) - 16;
      int r = x * 255 / (W - 1), g = y * 255 / (H - 1), b = ((x - 18) * (x - 18) + (y - 14) * (y - 14)) * 2;
      int v[3] = {r + n, g - n, 255 - b + n};
      for (int c = 0; c < 3; c++) img[(y * W + x) * 3 + c] = (unsigned char)(v[c] < 0 ? 0 : v[c] > 255 ? 255 : v[c]);
    }
}

static void encode(const char *name, int gray, int h0, int v0, int restart, int progressive, int optimize, int quality) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr err;
  char path[256];
  snprintf(path, sizeof path, "%s.jpg", name);
  FILE *f = fopen(path, "wb");
  ci.err = jpeg_std_error(&err);
  jpeg_create_compress(&ci);
  jpeg_stdio_dest(&ci, f);
  ci.image_width = W;
  ci.image_height = H;
  ci.input_components = gray ? 1 : 3;
  ci.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, quality, TRUE);
  if (!gray) {
    ci.comp_info[0].h_samp_factor = h0;
    ci.comp_info[0].v_samp_factor = v0;
  }
  ci.restart_interval = restart;
  ci.optimize_coding = optimize;
  if (progressive) jpeg_simple_progression(&ci);
  jpeg_start_compress(&ci, TRUE);
  unsigned char graybuf[MAXW];
  while (ci.next_scanline < H) {
    JSAMPROW row = img + ci.next_scanline * W * 3;
    if (gray) {
      for (int x = 0; x < W; x++) graybuf[x] = (unsigned char)((row[x * 3] * 3 + row[x * 3 + 1] * 5 + row[x * 3 + 2] * 2) / 10);
      row = graybuf;
    }
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  fclose(f);
  if (progressive) return; /* the decoder under test must refuse it; no reference needed */

  /* reference decode: libjpeg defaults, BGR output (what cv2.imdecode requests) */
  struct jpeg_decompress_struct di;
  di.err = jpeg_std_error(&err);
  jpeg_create_decompress(&di);
  f = fopen(path, "rb");
  jpeg_stdio_src(&di, f);
  jpeg_read_header(&di, TRUE);
  di.out_color_space = JCS_EXT_BGR;
  jpeg_start_decompress(&di);
  unsigned char *out = malloc(W * H * 3);
  while (di.output_scanline < di.output_height) {
    JSAMPROW row = out + di.output_scanline * W * 3;
    jpeg_read_scanlines(&di, &row, 1);
  }
  jpeg_finish_decompress(&di);
  jpeg_destroy_decompress(&di);
  fclose(f);
  snprintf(path, sizeof path, "%s.bgr", name);
  f = fopen(path, "wb");
  fwrite(out, 1, W * H * 3, f);
  fclose(f);
  free(out);
}

int main(void) {
  make_image();
  encode("gray", 1, 1, 1, 0, 0, 0, 90);
  encode("s444", 0, 1, 1, 0, 0, 0, 90);
  encode("s422", 0, 2, 1, 0, 0, 0, 90);
  encode("s440", 0, 1, 2, 0, 0, 0, 90);
  encode("s420_restart", 0, 2, 2, 3, 0, 0, 75);
  encode("s420_optimized", 0, 2, 2, 0, 0, 1, 95);
  encode("s411", 0, 4, 1, 0, 0, 0, 90);
  encode("progressive", 0, 2, 2, 0, 1, 0, 90);
  /* even sizes: FFmpeg's swscale takes its special unscaled YUV->BGR path only for even heights */
  W = 40; H = 30;
  make_image();
  encode("even_s420", 0, 2, 2, 0, 0, 0, 90);
  encode("even_s422", 0, 2, 1, 0, 0, 0, 90);
  return 0;
}

// The demo page: collects inputs, hands them to the worker, paints results. No computation here,
// so the page stays responsive while the GPU works.
import type { RunRequest, Source, WorkerMessage } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string, error = false) => {
  const el = $('status');
  el.textContent = text;
  el.className = error ? 'error' : '';
};

// Long tasks on the main thread (the browser test reads this).
const longTasks: number[] = [];
(window as unknown as { __longTasks: number[] }).__longTasks = longTasks;
try {
  new PerformanceObserver((l) => l.getEntries().forEach((e) => longTasks.push(e.duration))).observe({ type: 'longtask', buffered: true });
} catch { /* not supported: nothing to record */ }

const params = new URLSearchParams(location.search);
let videoFile: File | undefined;
let modelFiles: File[] = [];

function webgpuProblem(): string | null {
  if (!('gpu' in navigator)) return 'This browser has no WebGPU (navigator.gpu is missing). Use Chrome/Edge 113+ or Safari 18+, or enable WebGPU; pages must be served over https or from localhost.';
  return null;
}

function pick(name: RegExp): File | undefined {
  return modelFiles.find((f) => name.test(f.name));
}

/** Where the model and the optional overrides come from. Only weights and a video are required. */
function sources(): Pick<RunRequest, 'model' | 'hubUrl' | 'files' | 'assetsBaseUrl' | 'vocab' | 'prompts'> {
  const assetsBaseUrl = params.get('assets') ?? ($('assetsUrl') as HTMLInputElement).value.trim();
  const overrides = {
    assetsBaseUrl,
    vocab: params.get('vocab') ? { url: params.get('vocab')! } : pickSource(/bpe_simple_vocab.*\.(gz|txt)$/),
    prompts: params.get('prompts') ? { url: params.get('prompts')! } : pickSource(/prompts.*\.json$/),
  };
  // Test/dev mode: a weights directory on this server.
  const weightsDir = params.get('weights');
  if (weightsDir) return { model: weightsDir, ...overrides };
  if (modelFiles.length) {
    const config = pick(/open_clip_config\.json$/);
    const weights = pick(/(\.safetensors|\.bin)$/);
    if (!config || !weights) throw new Error('pick open_clip_config.json and the weights (.safetensors or .bin) among the local files');
    return { model: weights.name, files: { config, weights }, ...overrides };
  }
  const id = ($('hub') as HTMLInputElement).value.trim();
  return { model: id.startsWith('hf-hub:') ? id : `hf-hub:${id}`, hubUrl: ($('hubUrl') as HTMLInputElement).value.trim(), ...overrides };
}

function pickSource(name: RegExp): Source | undefined {
  const f = pick(name);
  return f ? { file: f } : undefined;
}

/** Browser-decoded video (anything <video> plays): frames as BGR bytes, like cv2 gives them. */
async function decodeWithVideoElement(file: File, maxFrames: number): Promise<RunRequest['frames']> {
  const v = document.createElement('video');
  v.muted = true;
  v.src = URL.createObjectURL(file);
  await new Promise((ok, fail) => { v.onloadeddata = ok; v.onerror = () => fail(new Error(`this browser cannot decode ${file.name}`)); });
  const c = new OffscreenCanvas(v.videoWidth, v.videoHeight);
  const ctx = c.getContext('2d')!;
  const data: Uint8Array[] = [];
  const fps = 30;
  for (let i = 0; i < maxFrames && i / fps < v.duration; i++) {
    v.currentTime = i / fps;
    await new Promise((ok) => (v.onseeked = ok));
    ctx.drawImage(v, 0, 0);
    const rgba = ctx.getImageData(0, 0, c.width, c.height).data;
    const bgr = new Uint8Array(c.width * c.height * 3);
    for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) { bgr[q] = rgba[p + 2]; bgr[q + 1] = rgba[p + 1]; bgr[q + 2] = rgba[p]; }
    data.push(bgr);
  }
  return { width: c.width, height: c.height, data };
}



function paintPreview(frame: Uint8Array) {

  const ctx = $<HTMLCanvasElement>('preview').getContext('2d')!;
  const img = ctx.createImageData(224, 224);
  for (let p = 0, q = 0; q < frame.length; p += 4, q += 3) { img.data[p] = frame[q + 2]; img.data[p + 1] = frame[q + 1]; img.data[p + 2] = frame[q]; img.data[p + 3] = 255; }
  ctx.putImageData(img, 0, 0);
}

/** The CAM over the frame: smooth upsampling, a display blur (σ = 0.02·size, as gradcam.py) and a jet-like colour map. */
function paintCam(m: Extract<WorkerMessage, { type: 'cam' }>) {
  const cv = $<HTMLCanvasElement>('cam');
  const ctx = cv.getContext('2d')!;
  const max = Math.max(...m.cam) || 1;
  const small = new OffscreenCanvas(m.width, m.height);
  const sctx = small.getContext('2d')!;
  const img = sctx.createImageData(m.width, m.height);
  m.cam.forEach((v, i) => {
    const t = v / max;
    img.data[i * 4] = Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 3))));
    img.data[i * 4 + 1] = Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 2))));
    img.data[i * 4 + 2] = Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 1))));
    img.data[i * 4 + 3] = 255;
  });
  sctx.putImageData(img, 0, 0);
  ctx.clearRect(0, 0, cv.width, cv.height);
  ctx.drawImage($<HTMLCanvasElement>('preview'), 0, 0);
  ctx.globalAlpha = 0.5;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.filter = `blur(${(0.02 * cv.width).toFixed(1)}px)`;
  ctx.drawImage(small, 0, 0, cv.width, cv.height);
  ctx.filter = 'none';
  ctx.globalAlpha = 1;
  $('camCaption').textContent = `Grad-CAM, frame ${m.frameIndex}: “${m.prompt.trim()}”`;
  (window as unknown as { __cam: unknown }).__cam = { prompt: m.prompt, cam: Array.from(m.cam), height: m.height, width: m.width };
  document.body.dataset.cam = 'done';
}

function plot(values: number[], indices: number[]) {
  const cv = $<HTMLCanvasElement>('plot');
  const ctx = cv.getContext('2d')!;
  const W = cv.width, H = cv.height, pad = 34;
  ctx.clearRect(0, 0, W, H);
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  ctx.strokeStyle = '#99a';
  ctx.strokeRect(pad, 8, W - pad - 8, H - pad - 8);
  ctx.fillStyle = '#556';
  ctx.font = '11px system-ui';
  ctx.fillText(hi.toFixed(3), 2, 16);
  ctx.fillText(lo.toFixed(3), 2, H - pad);
  ctx.fillText(`frame ${indices[0]}`, pad, H - 12);
  ctx.fillText(`frame ${indices[indices.length - 1]}`, W - 70, H - 12);
  ctx.strokeStyle = '#1f6feb';
  ctx.lineWidth = 2;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = pad + ((W - pad - 8) * i) / Math.max(1, values.length - 1);
    const y = 8 + (H - pad - 8) * (1 - (v - lo) / span);
    if (i) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
  });
  ctx.stroke();
}

function showResults(m: Extract<WorkerMessage, { type: 'result' }>) {
  const ef = m.results.ejection_fraction;
  $('ef').textContent = ef && ef.mode === 'regression' ? `${ef.prediction.toFixed(1)} %` : '–';
  const bin = $('binary').querySelector('tbody')!;
  const cat = $('categorical').querySelector('tbody')!;
  bin.innerHTML = '<tr><th>task</th><th class="num">score</th></tr>';
  cat.innerHTML = '<tr><th>task</th><th>prediction</th></tr>';
  for (const [name, r] of Object.entries(m.results)) {
    const tr = document.createElement('tr');
    tr.dataset.task = name;
    if (r.mode === 'binary') {
      tr.innerHTML = `<td>${name.replace(/_/g, ' ')}</td><td class="num" data-value="${r.score}">${r.score.toFixed(4)}</td>`;
      bin.appendChild(tr);
    } else {
      const v = r.mode === 'regression' ? r.prediction.toFixed(2) : `${r.label} (${r.prediction})`;
      tr.innerHTML = `<td>${name.replace(/_/g, ' ')}</td><td data-value="${r.mode === 'regression' ? r.prediction : r.prediction}">${v}</td>`;
      cat.appendChild(tr);
    }
  }
  const sel = $<HTMLSelectElement>('plotTask');
  sel.innerHTML = Object.keys(m.perFrame).map((t) => `<option>${t}</option>`).join('');
  const draw = () => plot(m.perFrame[sel.value], m.frameIndices);
  sel.onchange = draw;
  draw();
  status(`done in ${(m.ms / 1000).toFixed(1)} s`);
  document.body.dataset.state = 'done';
  (window as unknown as { __results: unknown }).__results = m.results;
}

async function start() {
  const btn = $<HTMLButtonElement>('run');
  btn.disabled = true;
  document.body.dataset.state = 'running';
  try {
    const req: RunRequest = { type: 'run', ...sources(), frameSpec: ($('frames') as HTMLInputElement).value, dtype: ($('dtype') as HTMLSelectElement).value as 'f32' | 'f16', camPrompt: ($('camPrompt') as HTMLInputElement).value };
    const videoUrl = params.get('video');
    if (videoUrl) req.video = { url: videoUrl };
    else if (!videoFile) throw new Error('drop a video first');
    else if (/\.(avi|dcm|dicom)$/i.test(videoFile.name) || !/\./.test(videoFile.name)) req.video = { file: videoFile };
    else req.frames = await decodeWithVideoElement(videoFile, 120);
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      if (m.type === 'status') status(m.text);
      else if (m.type === 'progress') { const p = $<HTMLProgressElement>('progress'); p.max = m.total; p.value = m.done; status(`${m.stage}: ${m.done} / ${m.total}`); }
      else if (m.type === 'adapter') $('adapter').textContent = `adapter: ${m.description}${m.f16 ? ' (shader-f16)' : ''}`;
      else if (m.type === 'frames') paintPreview(m.preview);
      else if (m.type === 'result') showResults(m);
      else if (m.type === 'cam') { paintCam(m); status(`${$('status').textContent}; Grad-CAM ready`); worker.terminate(); btn.disabled = false; }
      else if (m.type === 'error') { status(`${m.name}: ${m.message}`, true); document.body.dataset.state = 'error'; worker.terminate(); btn.disabled = false; }
    };
    worker.postMessage(req);
  } catch (e) {
    status(e instanceof Error ? e.message : String(e), true);
    document.body.dataset.state = 'error';
    btn.disabled = false;
  }
}

const problem = webgpuProblem();
if (problem) {
  status(problem, true);
  document.body.dataset.state = 'no-webgpu';
} else {
  $<HTMLButtonElement>('run').disabled = false;
  $<HTMLButtonElement>('run').onclick = () => void start();
  $<HTMLInputElement>('videoFile').onchange = (e) => { videoFile = (e.target as HTMLInputElement).files?.[0]; status(videoFile ? `video: ${videoFile.name}` : ''); };
  $<HTMLInputElement>('modelFiles').onchange = (e) => { modelFiles = [...((e.target as HTMLInputElement).files ?? [])]; status(`${modelFiles.length} local files`); };
  const drop = $('drop');
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove('over'); videoFile = e.dataTransfer?.files[0]; status(videoFile ? `video: ${videoFile.name}` : ''); };
  if (params.get('autorun') === '1') void start();
}
